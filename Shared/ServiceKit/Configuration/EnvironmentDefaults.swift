import Foundation

/// Defaults for command-line options that an environment variable may override, so every
/// flag `--port` has a `TESSERA_<SERVICE>_PORT` twin for containers.
public enum EnvironmentDefaults {
    public static func string(_ name: String, _ fallback: String) -> String {
        ProcessInfo.processInfo.environment[name].flatMap { $0.isEmpty ? nil : $0 } ?? fallback
    }

    public static func int(_ name: String, _ fallback: Int) -> Int {
        ProcessInfo.processInfo.environment[name].flatMap { Int($0) } ?? fallback
    }

    public static func double(_ name: String, _ fallback: Double) -> Double {
        ProcessInfo.processInfo.environment[name].flatMap { Double($0) } ?? fallback
    }

    /// The bind host: `TESSERA_HOST` if set (the container image sets 0.0.0.0), else loopback.
    public static var host: String { string("TESSERA_HOST", "127.0.0.1") }
}
