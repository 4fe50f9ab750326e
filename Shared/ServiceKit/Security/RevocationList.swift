import Foundation
import Synchronization

/// Certificate names the operator revoked (`tessera worker revoke ID`): the file `revoked` in
/// the certificate directory, one name a line. Every service refuses every RPC from a
/// certificate with a revoked name. The file is read again whenever it changes (checked by
/// its modification time, a `stat` per RPC), so a revocation needs no restart.
public final class RevocationList: Sendable {
    public static let fileName = "revoked"

    private struct Snapshot {
        var modified: Date?
        var names: Set<String> = []
    }

    let path: String
    private let snapshot = Mutex(Snapshot())

    public init(path: String) {
        self.path = path
    }

    public func contains(_ name: String) -> Bool {
        let modified =
            (try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date
        return snapshot.withLock { snapshot in
            if modified != snapshot.modified {
                snapshot.modified = modified
                snapshot.names = Self.read(path)
            }
            return snapshot.names.contains(name)
        }
    }

    /// Adds `name` to the list at `path` (creating it).
    public static func revoke(_ name: String, at path: String) throws {
        var names = read(path)
        guard names.insert(name).inserted else { return }
        try (names.sorted().joined(separator: "\n") + "\n").write(
            toFile: path, atomically: true, encoding: .utf8)
    }

    static func read(_ path: String) -> Set<String> {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return [] }
        return Set(
            text.split(whereSeparator: \.isNewline).map {
                $0.trimmingCharacters(in: .whitespaces)
            }.filter { !$0.isEmpty })
    }
}
