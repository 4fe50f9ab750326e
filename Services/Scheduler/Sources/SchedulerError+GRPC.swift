import GRPCCore

/// The one place the scheduler's errors become gRPC statuses (the server converts any
/// thrown `RPCErrorConvertible`).
extension SchedulerError: RPCErrorConvertible {
    var rpcErrorCode: RPCError.Code {
        switch self {
        case .modelNotLoaded, .noReadyPipeline: .unavailable
        case .modelNotServed, .unknownWorker, .noSuchWorker: .notFound
        case .manifestWithoutCosts: .failedPrecondition
        case .workerIDInUse: .alreadyExists
        case .keyMismatch: .permissionDenied
        }
    }

    var rpcErrorMessage: String { description }
}
