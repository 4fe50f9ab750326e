import GRPCCore

/// Why fetching or keeping a shard file failed. Services that host or replay shards (the
/// worker, the verifier) throw it as it is: each case is the gRPC status the worker has
/// always answered for it.
public enum ShardError: Error, Sendable, CustomStringConvertible {
    /// Shard bytes are damaged (a download that never matches its hash, a broken stream).
    case damagedShard(String)
    /// The cache-manager could not be reached, or the service is stopping.
    case unavailable(String)
    /// A fault of this process (disk, a broken invariant), not of the request.
    case internalFailure(String)
    /// The disk filled up (ENOSPC) while writing a download; the partial file is gone.
    case diskFull(String)

    public var description: String {
        switch self {
        case .damagedShard(let message), .unavailable(let message),
            .internalFailure(let message), .diskFull(let message):
            message
        }
    }
}

extension ShardError: RPCErrorConvertible {
    public var rpcErrorCode: RPCError.Code {
        switch self {
        case .damagedShard: .dataLoss
        case .unavailable: .unavailable
        case .internalFailure: .internalError
        case .diskFull: .resourceExhausted
        }
    }

    public var rpcErrorMessage: String { description }
}
