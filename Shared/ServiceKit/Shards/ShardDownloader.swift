import Foundation
import GRPCCore
import Logging
import TesseraProto

/// Fetches a shard from the cache-manager with `DownloadShard` into `<sha>.gguf.partial`,
/// appending to whatever an earlier, interrupted attempt left there (the server streams from
/// the offset asked for). A broken stream is resumed a few times before giving up.
public struct ShardDownloader: Sendable {
    public let clients: ClientPool
    public let files: ShardFiles
    public let logger: Logger
    public var attempts = 4

    public init(clients: ClientPool, files: ShardFiles, logger: Logger, attempts: Int = 4) {
        self.clients = clients
        self.files = files
        self.logger = logger
        self.attempts = attempts
    }

    /// Downloads and verifies, moving the file into place; a hash mismatch deletes the bytes
    /// and fetches once more (a transfer may have been damaged; twice means the source is).
    public func downloadVerified(_ sha: String, from address: ListenAddress) async throws {
        for attempt in 1...2 {
            try await download(sha, from: address)
            if try await files.promotePartial(sha) { return }
            logger.warning(
                "downloaded shard does not match its hash",
                metadata: ["shard": "\(sha)", "attempt": "\(attempt)"])
        }
        throw ShardError.damagedShard(
            "shard \(sha) from \(address) did not match its SHA-256 twice; the cache-manager's copy is damaged"
        )
    }

    /// Returns once the partial file holds the whole shard (not yet verified).
    public func download(_ sha: String, from address: ListenAddress) async throws {
        let client = Tessera_V1_CacheManager.Client(wrapping: try peer(address))
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
            } catch ShardError.diskFull(let message) {
                // Resuming cannot help and the bytes only hold the disk: never keep them.
                try? FileManager.default.removeItem(atPath: partial)
                throw ShardError.diskFull(message + "; the partial file was removed")
            } catch let error as ShardError {
                throw error
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                throw ShardError.internalFailure(
                    "downloading shard \(sha) into \(partial): \(error)")
            }
        }
        throw ShardError.unavailable("downloading shard \(sha) from \(address) kept failing")
    }

    private func fetch(
        _ sha: String, from offset: UInt64, into partial: String,
        client: Tessera_V1_CacheManager.Client<TesseraClientTransport>
    ) async throws {
        if !FileManager.default.fileExists(atPath: partial) {
            _ = FileManager.default.createFile(atPath: partial, contents: nil)
        }
        guard let handle = FileHandle(forWritingAtPath: partial) else {
            throw ShardError.internalFailure("cannot write \(partial)")
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
                    throw ShardError.damagedShard(
                        "downloading shard \(sha): the cache-manager sent bytes at offset \(chunk.offset), expected \(expected)"
                    )
                }
                if chunk.totalSize > 0, expected + UInt64(chunk.data.count) > chunk.totalSize {
                    throw ShardError.damagedShard(
                        "downloading shard \(sha): the cache-manager sent more bytes than the shard's \(chunk.totalSize)"
                    )
                }
                try Self.writing(sha) { try handle.write(contentsOf: chunk.data) }
                expected += UInt64(chunk.data.count)
            }
        }
        try Self.writing(sha) { try handle.synchronize() }
    }

    /// The cache-manager's client; a closed pool means the service is stopping (UNAVAILABLE).
    private func peer(_ address: ListenAddress) throws(ShardError) -> TesseraGRPCClient {
        do {
            return try clients.client(for: address)
        } catch ClientPool.PoolError.closed {
            throw .unavailable("\(ClientPool.PoolError.closed)")
        } catch {
            throw .internalFailure("cannot make a client for \(address): \(error)")
        }
    }

    /// Runs a write to the partial file, turning a full disk into `ShardError.diskFull`.
    static func writing(_ sha: String, _ body: () throws -> Void) throws {
        do {
            try body()
        } catch  where isOutOfSpace(error) {
            throw ShardError.diskFull("downloading shard \(sha): the disk is full (ENOSPC)")
        }
    }

    /// ENOSPC, however Foundation wrapped it (a POSIX error, or Cocoa's out-of-space write
    /// error with the POSIX one underneath).
    static func isOutOfSpace(_ error: any Error) -> Bool {
        let error = error as NSError
        if error.domain == NSPOSIXErrorDomain && error.code == Int(ENOSPC) { return true }
        if error.domain == NSCocoaErrorDomain
            && error.code == CocoaError.fileWriteOutOfSpace.rawValue
        {
            return true
        }
        if let underlying = error.userInfo[NSUnderlyingErrorKey] as? NSError {
            return isOutOfSpace(underlying)
        }
        return false
    }

    static func isTransient(_ code: RPCError.Code) -> Bool {
        [.unavailable, .deadlineExceeded, .aborted, .cancelled, .unknown, .internalError].contains(
            code)
    }

    /// Says which download failed; keeps the cache-manager's code (NOT_FOUND stays NOT_FOUND),
    /// so this relays the remote status as it is rather than as a `ShardError`.
    static func explain(_ error: RPCError, sha: String, address: ListenAddress) -> RPCError {
        RPCError(
            code: error.code, message: "downloading shard \(sha) from \(address): \(error.message)")
    }
}
