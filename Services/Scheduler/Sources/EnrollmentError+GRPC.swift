import GRPCCore
import ServiceKit

/// The one place enrollment errors become gRPC statuses (the server converts any thrown
/// `RPCErrorConvertible`).
extension EnrollmentError: RPCErrorConvertible {
    public var rpcErrorCode: RPCError.Code {
        switch self {
        case .malformedToken, .unknownToken, .tokenUsed, .tokenExpired, .revoked,
            .authorityMismatch:
            .permissionDenied
        case .nameTaken: .alreadyExists
        case .badName, .badAlternativeName, .badRequest: .invalidArgument
        case .noAuthorityKey: .failedPrecondition
        case .store: .internalError
        }
    }

    public var rpcErrorMessage: String { description }
}
