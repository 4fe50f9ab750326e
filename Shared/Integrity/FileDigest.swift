import Crypto
import Foundation

/// SHA-256 of files and byte buffers, as lowercase hex: the identity of models and shards.
public enum FileDigest {
    /// Hashes a file in 1 MiB pieces, so a multi-gigabyte model never sits in memory.
    public static func sha256Hex(ofFile path: String) throws -> String {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw CocoaError(.fileReadNoSuchFile, userInfo: [NSFilePathErrorKey: path])
        }
        defer { try? handle.close() }
        var hasher = SHA256()
        while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty {
            hasher.update(data: chunk)
        }
        return hex(hasher.finalize())
    }

    public static func sha256Hex(of bytes: some DataProtocol) -> String {
        hex(SHA256.hash(data: bytes))
    }

    public static func sha256Hex(of buffer: UnsafeRawBufferPointer) -> String {
        hex(SHA256.hash(data: buffer))
    }

    static func hex(_ digest: SHA256.Digest) -> String {
        digest.map { String(format: "%02x", $0) }.joined()
    }
}
