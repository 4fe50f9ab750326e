import Foundation
import Logging

/// What every service's `main` does: set up logging and metrics, start, run until SIGTERM or
/// SIGINT (then drain in-flight RPCs and exit 0), or exit 1 with a one-line reason.
public enum ServiceRunner {
    /// `security` chooses mutual TLS with the certificate `certificateName` (unless the
    /// flags name another) or, when asked explicitly, plaintext with a warning.
    public static func run(
        name: String, logLevel: String, security: SecurityOptions, certificateName: String,
        tracing: TracingOptions? = nil,
        build: (Logger) throws -> ServiceApplication
    ) async -> Never {
        guard let level = Logger.Level(rawValue: logLevel.lowercased()) else {
            fail(
                name,
                "unknown log level '\(logLevel)' (trace, debug, info, notice, warning, error, critical)"
            )
        }
        ServiceLogging.bootstrap(level: level)
        ServiceMetrics.bootstrap()
        let logger = Logger(label: name)
        do {
            ClusterSecurity.processWide = try security.resolve(defaultName: certificateName)
            if ClusterSecurity.processWide.isInsecure {
                logger.warning(
                    "insecure: plaintext gRPC, no certificates, no role checks (--insecure)")
            }
            var application = try build(logger)
            // First in the group, so it stops last: spans of the final requests are flushed.
            if let tracing,
                let exporter = try ProcessTracing.bootstrap(
                    tracing, serviceName: name, logger: logger)
            {
                application.dependencies.insert(exporter, at: 0)
            }
            let running = try await application.start(handleSignals: true)
            try await running.wait()
            logger.info("stopped")
            exit(0)
        } catch {
            fail(name, "\(error)")
        }
    }

    static func fail(_ name: String, _ message: String) -> Never {
        FileHandle.standardError.write(Data("\(name): error: \(message)\n".utf8))
        exit(1)
    }
}
