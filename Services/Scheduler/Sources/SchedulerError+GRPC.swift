import GRPCCore
import ServiceKit

/// The one place the scheduler's errors become gRPC statuses (the server converts any
/// thrown `RPCErrorConvertible`).
extension SchedulerError: RPCErrorConvertible {
    var rpcErrorCode: RPCError.Code {
        switch self {
        case .modelNotLoaded, .noReadyPipeline, .modelLoading, .modelEvicting: .unavailable
        case .atCapacity, .noRoom: .resourceExhausted
        case .doesNotFit, .defaultModelAlwaysServed: .failedPrecondition
        case .modelNotServed, .unknownWorker, .noSuchWorker: .notFound
        case .manifestWithoutCosts: .failedPrecondition
        case .workerIDInUse: .alreadyExists
        case .keyMismatch: .permissionDenied
        }
    }

    var rpcErrorMessage: String { description }

    /// When trying again may succeed, for a refusal that says (gRPC's pushback key).
    /// A refusal for lack of room says so (`MetadataKeys.noRoom`): the gateway answers it at
    /// once with 503, where a lack of session slots waits in its admission queue (told the
    /// capacity, `MetadataKeys.sessionCapacity`, to predict the wait).
    var rpcErrorMetadata: Metadata {
        switch self {
        case .atCapacity(_, let saturation):
            var metadata: Metadata = [
                MetadataKeys.retryPushback: .string("\(saturation.retryAfter.inMilliseconds)")
            ]
            if let capacity = saturation.capacity {
                metadata.addString("\(capacity)", forKey: MetadataKeys.sessionCapacity)
            }
            return metadata
        case .noRoom(_, _, let retryAfter):
            return [
                MetadataKeys.retryPushback: .string("\(retryAfter.inMilliseconds)"),
                MetadataKeys.noRoom: "1",
            ]
        default: return [:]
        }
    }
}
