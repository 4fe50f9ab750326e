import GRPCCore
import ServiceKit

/// The one place the scheduler's errors become gRPC statuses (the server converts any
/// thrown `RPCErrorConvertible`).
extension SchedulerError: RPCErrorConvertible {
    var rpcErrorCode: RPCError.Code {
        switch self {
        case .modelNotLoaded, .noReadyPipeline: .unavailable
        case .atCapacity: .resourceExhausted
        case .modelNotServed, .unknownWorker, .noSuchWorker: .notFound
        case .manifestWithoutCosts: .failedPrecondition
        case .workerIDInUse: .alreadyExists
        case .keyMismatch: .permissionDenied
        }
    }

    var rpcErrorMessage: String { description }

    /// When trying again may succeed, for a refusal that says (gRPC's pushback key).
    var rpcErrorMetadata: Metadata {
        guard case .atCapacity(_, let saturation) = self else { return [:] }
        return [
            MetadataKeys.retryPushback: .string("\(saturation.retryAfter.inMilliseconds)")
        ]
    }
}
