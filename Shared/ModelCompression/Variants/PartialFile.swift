import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Publishes a file so that its final name only ever holds complete bytes: written to
/// `<path>.partial`, flushed to disk, then renamed (and the rename flushed too). On any
/// failure the partial file is removed. A `.partial` left by a crash is the caller's to
/// clean up on restart (`isPartial`).
enum PartialFile {
    static let suffix = ".partial"

    static func isPartial(_ fileName: String) -> Bool { fileName.hasSuffix(suffix) }

    /// Writes `bytes` as `path`; `verify` runs on the flushed partial file before the rename.
    static func publish(
        _ bytes: [UInt8], as path: String, verify: (String) throws -> Void
    ) throws(VariantBuildError) {
        let partial = path + suffix
        do {
            try writeFlushed(bytes, to: partial, naming: path)
            try verify(partial)
            guard rename(partial, path) == 0 else {
                throw VariantBuildError.writeFailed(path: path, reason: errnoText())
            }
        } catch {
            unlink(partial)
            if let error = error as? VariantBuildError { throw error }
            throw .writeFailed(path: path, reason: "\(error)")
        }
        syncDirectory(of: path)
    }

    private static func writeFlushed(_ bytes: [UInt8], to partial: String, naming path: String)
        throws
    {
        // O_TRUNC rather than O_EXCL: a partial file is never anyone else's, and one left
        // by an interrupted attempt is simply replaced.
        let descriptor = open(partial, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw failure(path) }
        defer { close(descriptor) }
        try bytes.withUnsafeBytes { buffer in
            var written = 0
            while written < buffer.count {
                let result = write(
                    descriptor, buffer.baseAddress! + written, buffer.count - written)
                if result < 0 {
                    if errno == EINTR { continue }
                    throw failure(path)
                }
                written += result
            }
        }
        guard fsync(descriptor) == 0 else { throw failure(path) }
    }

    /// The current `errno` as the builder's error: a full disk is told apart.
    private static func failure(_ path: String) -> VariantBuildError {
        errno == ENOSPC || errno == EDQUOT
            ? .diskFull(path: path) : .writeFailed(path: path, reason: errnoText())
    }

    /// Makes the rename durable; failing to is not worth failing the variant over.
    private static func syncDirectory(of path: String) {
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
        let descriptor = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard descriptor >= 0 else { return }
        fsync(descriptor)
        close(descriptor)
    }

    private static func errnoText() -> String { String(cString: strerror(errno)) }
}
