import ArgumentParser

extension ListenAddress: ExpressibleByArgument {
    public init?(argument: String) {
        self.init(parsing: argument)
    }
}

/// Checks shared by every service's flags.
public enum OptionChecks {
    public static func port(_ value: Int, _ flag: String) throws {
        guard (0...65535).contains(value) else {
            throw ValidationError("\(flag) must be between 0 and 65535, got \(value)")
        }
    }
}
