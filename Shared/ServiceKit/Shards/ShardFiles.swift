import Foundation
import Integrity

/// An on-disk shard cache (a worker's, the verifier's): `<dir>/<sha>.gguf` once verified,
/// `<sha>.gguf.partial` while downloading. Files survive restarts, so a restarted service
/// reloads without fetching again; every use re-checks the SHA-256, so a damaged file is
/// never run.
public struct ShardFiles: Sendable {
    public let directory: String

    public init(directory: String) {
        self.directory = directory
    }

    public func path(for sha: String) -> String { "\(directory)/\(sha).gguf" }
    public func partialPath(for sha: String) -> String { "\(directory)/\(sha).gguf.partial" }

    public func createDirectory() throws {
        do {
            try FileManager.default.createDirectory(
                atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw ShardError.internalFailure(
                "cannot create the shard directory \(directory): \(error)")
        }
    }

    /// True when the cached file exists and hashes to `sha`. A file with other bytes is
    /// deleted here, so the caller downloads a fresh copy.
    public func cachedFileIsIntact(_ sha: String) async throws -> Bool {
        let path = path(for: sha)
        guard FileManager.default.fileExists(atPath: path) else { return false }
        if try await Self.hash(path) == sha { return true }
        try? FileManager.default.removeItem(atPath: path)
        return false
    }

    /// Checks the finished download; on success moves it into place, otherwise deletes it.
    public func promotePartial(_ sha: String) async throws -> Bool {
        let partial = partialPath(for: sha)
        guard try await Self.hash(partial) == sha else {
            try? FileManager.default.removeItem(atPath: partial)
            return false
        }
        let final = path(for: sha)
        try? FileManager.default.removeItem(atPath: final)
        do {
            try FileManager.default.moveItem(atPath: partial, toPath: final)
        } catch {
            throw ShardError.internalFailure(
                "cannot move the downloaded shard into place: \(error)")
        }
        return true
    }

    public func size(of path: String) -> UInt64 {
        ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber)?
            .uint64Value ?? 0
    }

    /// SHA-256 of a file, off the cooperative pool (a 100 MB shard takes a few tenths of a second).
    public static func hash(_ path: String) async throws -> String {
        try await Offload.run {
            do {
                return try FileDigest.sha256Hex(ofFile: path)
            } catch {
                throw ShardError.internalFailure("cannot read \(path): \(error)")
            }
        }
    }
}
