import Foundation
import ServiceKit

/// Where a worker's id comes from. The id is what the scheduler, pipelines and logs call the
/// worker, so it must be unique and survive restarts: `--worker-id` when given, else the
/// `worker-id` file in the state directory, written with a random id on the first start.
/// Without a state directory (a worker on an ephemeral port) the id lives as long as the process.
enum WorkerIdentity {
    static let fileName = "worker-id"

    /// `w-` and 12 hex digits (48 random bits): collisions among a cluster's workers are
    /// negligible, and the scheduler refuses one anyway while the first holder is alive.
    static func generate() -> String { RandomID.make(prefix: "w-", digits: 12) }

    /// The id to register with, and where it came from (for the start-up log line).
    static func resolve(configured: String, stateDirectory: String?) throws -> (
        id: String, source: String
    ) {
        let configured = configured.trimmingCharacters(in: .whitespacesAndNewlines)
        if !configured.isEmpty { return (configured, "--worker-id") }
        guard let stateDirectory else { return (generate(), "generated for this process") }
        let file = URL(fileURLWithPath: stateDirectory).appendingPathComponent(fileName)
        if let data = FileManager.default.contents(atPath: file.path) {
            let stored = String(decoding: data, as: UTF8.self)
                .trimmingCharacters(in: .whitespacesAndNewlines)
            // A damaged file is not silently replaced: a new id would be a different worker.
            guard !stored.isEmpty, !stored.contains(where: \.isWhitespace) else {
                throw ServiceError.configuration(
                    "\(file.path) does not hold a worker id; delete it to generate a new one")
            }
            return (stored, file.path)
        }
        let id = generate()
        do {
            try FileManager.default.createDirectory(
                atPath: stateDirectory, withIntermediateDirectories: true)
            try Data((id + "\n").utf8).write(to: file, options: .atomic)
        } catch {
            throw ServiceError.configuration(
                "cannot keep the worker id in \(file.path) (--state-dir): \(error.localizedDescription)"
            )
        }
        return (id, "generated, kept in \(file.path)")
    }
}
