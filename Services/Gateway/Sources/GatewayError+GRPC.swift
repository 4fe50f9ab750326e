import GRPCCore
import ServiceKit

// The gateway's errors as gRPC statuses for `Generate`, `Chat` and `ListServedModels`.
extension GatewayError: RPCErrorConvertible {
    var rpcErrorCode: RPCError.Code {
        switch kind {
        case .invalidArgument, .promptTooLong: .invalidArgument
        case .modelNotFound: .notFound
        case .unavailable: .unavailable
        case .queueFull, .queueTimeout, .predictedWaitTooLong: .resourceExhausted
        case .deadlineExceeded: .deadlineExceeded
        case .internalError: .internalError
        case .unauthenticated: .unauthenticated
        case .keyRateLimited: .resourceExhausted
        }
    }

    var rpcErrorMessage: String { message }

    /// When trying again may work, under gRPC's own pushback key (milliseconds).
    var rpcErrorMetadata: Metadata {
        guard let retryAfter else { return [:] }
        return [MetadataKeys.retryPushback: .string("\(max(1, retryAfter.inMilliseconds))")]
    }
}

extension GatewayError {
    /// Any error met while serving a request, as the gateway reports it: its own errors as
    /// they are, a status from another service as an internal error naming it.
    init(_ error: any Error) {
        switch error {
        case let error as GatewayError: self = error
        case let error as RPCError: self.init(.internalError, "\(error.code): \(error.message)")
        default: self.init(.internalError, "\(error)")
        }
    }
}
