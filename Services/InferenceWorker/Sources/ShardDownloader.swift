import Foundation
import GRPCCore
import Logging
import ServiceKit
import TesseraProto

/// Fetches a shard from the cache-manager with `DownloadShard` into `<sha>.gguf.partial`,
/// appending to whatever an earlier, interrupted attempt left there (the server streams from
/// the offset asked for). A broken stream is resumed a few times before giving up.
struct ShardDownloader: Sendable {
    let clients: ClientPool
    let files: ShardFiles
    let logger: Logger
    var attempts = 4

    /// Returns once the partial file holds the whole shard (not yet verified).
    func download(_ sha: String, from address: ListenAddress) async throws {
        let client = Tessera_V1_CacheManager.Client(wrapping: try clients.peer(address))
        let partial = files.partialPath(for: sha)
        var backoff = Backoff(initial: .milliseconds(100), maximum: .seconds(2))
        var restartedFromZero = false
        for attempt in 1...attempts {
            let offset = files.size(of: partial)
            do {
                try await fetch(sha, from: offset, into: partial, client: client)
                return
            } catch let error as RPCError
                where error.code == .outOfRange && offset > 0 && !restartedFromZero
            {
                // The partial file is longer than the shard: it is not a prefix of it.
                try? FileManager.default.removeItem(atPath: partial)
                restartedFromZero = true
            } catch let error as RPCError where Self.isTransient(error.code) && attempt < attempts {
                let delay = backoff.next()
                logger.notice(
                    "shard download interrupted, resuming",
                    metadata: [
                        "shard": "\(sha)", "offset": "\(files.size(of: partial))",
                        "error": "\(error.message)",
                    ])
                try await Task.sleep(for: delay)
            } catch let error as RPCError {
                throw Self.explain(error, sha: sha, address: address)
            } catch let error as WorkerError {
                throw error
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                throw WorkerError.internalFailure(
                    "downloading shard \(sha) into \(partial): \(error)")
            }
        }
        throw WorkerError.unavailable("downloading shard \(sha) from \(address) kept failing")
    }

    private func fetch(
        _ sha: String, from offset: UInt64, into partial: String,
        client: Tessera_V1_CacheManager.Client<TesseraClientTransport>
    ) async throws {
        if !FileManager.default.fileExists(atPath: partial) {
            _ = FileManager.default.createFile(atPath: partial, contents: nil)
        }
        guard let handle = FileHandle(forWritingAtPath: partial) else {
            throw WorkerError.internalFailure("cannot write \(partial)")
        }
        defer { try? handle.close() }
        try handle.seekToEnd()
        logger.info("downloading shard", metadata: ["shard": "\(sha)", "offset": "\(offset)"])
        let request = Tessera_V1_DownloadShardRequest.with {
            $0.shardSha256 = sha
            $0.offset = offset
        }
        try await client.downloadShard(request) { response in
            var expected = offset
            for try await chunk in response.messages {
                guard chunk.offset == expected else {
                    throw WorkerError.damagedShard(
                        "downloading shard \(sha): the cache-manager sent bytes at offset \(chunk.offset), expected \(expected)"
                    )
                }
                if chunk.totalSize > 0, expected + UInt64(chunk.data.count) > chunk.totalSize {
                    throw WorkerError.damagedShard(
                        "downloading shard \(sha): the cache-manager sent more bytes than the shard's \(chunk.totalSize)"
                    )
                }
                try handle.write(contentsOf: chunk.data)
                expected += UInt64(chunk.data.count)
            }
        }
        try handle.synchronize()
    }

    static func isTransient(_ code: RPCError.Code) -> Bool {
        [.unavailable, .deadlineExceeded, .aborted, .cancelled, .unknown, .internalError].contains(
            code)
    }

    /// Says which download failed; keeps the cache-manager's code (NOT_FOUND stays NOT_FOUND),
    /// so this relays the remote status as it is rather than as a `WorkerError`.
    static func explain(_ error: RPCError, sha: String, address: ListenAddress) -> RPCError {
        RPCError(
            code: error.code, message: "downloading shard \(sha) from \(address): \(error.message)")
    }
}
