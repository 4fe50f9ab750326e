import GRPCCore

// The one place a worker error becomes a gRPC status; the server converts thrown errors
// that conform to `RPCErrorConvertible` itself.
extension WorkerError: RPCErrorConvertible {
    var rpcErrorCode: RPCError.Code {
        switch self {
        case .invalidRequest, .invalidSampling: .invalidArgument
        case .shardNotHosted, .unsupportedShard, .stalePosition: .failedPrecondition
        case .shardNotLoaded: .notFound
        case .notEnoughMemory, .notEnoughDisk, .sessionsFull: .resourceExhausted
        case .damagedShard: .dataLoss
        case .outOfContext: .outOfRange
        case .unavailable: .unavailable
        case .internalFailure: .internalError
        }
    }

    var rpcErrorMessage: String { description }
}
