import Foundation
import Logging

/// Writes one logfmt line per event to stderr:
/// `ts=2026-11-22T12:00:00.000Z level=info service=scheduler msg="worker registered" worker=w-1`.
/// logfmt is greppable by people and parsed by Loki, Vector and most log shippers.
public struct StructuredLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level
    /// Adds the active span's trace_id and span_id (ServiceLogging), so a failed step's line
    /// leads to its trace.
    public var metadataProvider: Logger.MetadataProvider?
    private let label: String

    public init(
        label: String, level: Logger.Level, metadataProvider: Logger.MetadataProvider? = nil
    ) {
        self.label = label
        self.logLevel = level
        self.metadataProvider = metadataProvider
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var fields = metadata
        if let provided = metadataProvider?.get() { fields.merge(provided) { _, new in new } }
        if let extra = event.metadata { fields.merge(extra) { _, new in new } }
        var line =
            "ts=\(Self.timestamp()) level=\(event.level) service=\(Self.quoted(label)) msg=\(Self.quoted("\(event.message)"))"
        for key in fields.keys.sorted() {
            line += " \(key)=\(Self.quoted("\(fields[key]!)"))"
        }
        line += "\n"
        FileHandle.standardError.write(Data(line.utf8))
    }

    static func quoted(_ value: String) -> String {
        let needsQuotes =
            value.isEmpty || value.contains { $0 == " " || $0 == "=" || $0 == "\"" || $0.isNewline }
        guard needsQuotes else { return value }
        let escaped = value.replacingOccurrences(of: "\\", with: "\\\\")
            .replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n")
        return "\"\(escaped)\""
    }

    private static func timestamp() -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: Date())
    }
}

public enum ServiceLogging {
    nonisolated(unsafe) private static var bootstrapped = false
    private static let lock = NSLock()

    /// Installs the structured handler for the whole process (once; later calls are ignored,
    /// which lets tests start several services in one process).
    public static func bootstrap(level: Logger.Level) {
        lock.lock()
        defer { lock.unlock() }
        guard !bootstrapped else { return }
        bootstrapped = true
        LoggingSystem.bootstrap(
            { label, provider in
                StructuredLogHandler(label: label, level: level, metadataProvider: provider)
            }, metadataProvider: TraceLogMetadata.provider)
    }
}
