import Foundation
import GRPCCore
import TesseraProto

/// Streams a shard file from an offset in fixed chunks, each saying where it starts and how
/// big the whole file is, so a client can resume an interrupted download.
enum ShardStreaming {
    static let chunkSize = 1 << 20

    /// Checks the offset against the size before anything is streamed.
    static func validate(offset: UInt64, size: Int, sha256: String) throws {
        guard offset <= UInt64(size) else {
            throw ModelLibraryError.offsetPastEnd(offset: offset, sha256: sha256, size: size)
        }
    }

    /// Writes chunks of `path` from `offset` to the end. At the end already (offset == size),
    /// one empty chunk tells the client the size and that nothing is left.
    static func stream(
        path: String, offset: UInt64, size: Int, to writer: RPCWriter<Tessera_V1_ShardChunk>
    ) async throws {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw ModelLibraryError.shardFileUnopenable(path: path)
        }
        defer { try? handle.close() }
        var position = offset
        do {
            try handle.seek(toOffset: offset)
        } catch {
            throw ModelLibraryError.shardFileUnseekable(path: path, reason: "\(error)")
        }
        let total = UInt64(size)
        if position == total {
            try await writer.write(
                .with {
                    $0.offset = position
                    $0.totalSize = total
                })
            return
        }
        while position < total {
            try Task.checkCancellation()
            let wanted = Int(min(UInt64(chunkSize), total - position))
            let data: Data
            do {
                data = try handle.read(upToCount: wanted) ?? Data()
            } catch {
                throw ModelLibraryError.shardFileUnreadable(path: path, reason: "\(error)")
            }
            guard !data.isEmpty else {
                // The file shrank under us (it is replaced atomically, so this is not expected).
                throw ModelLibraryError.shardFileShrank(path: path, at: position, of: total)
            }
            try await writer.write(
                .with {
                    $0.offset = position
                    $0.data = data
                    $0.totalSize = total
                })
            position += UInt64(data.count)
        }
    }
}
