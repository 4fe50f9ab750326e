import GRPCCore

/// The one place the verifier's errors become gRPC statuses (the server converts any thrown
/// `RPCErrorConvertible`); the message is the error's description.
extension VerifierError: RPCErrorConvertible {
    var rpcErrorCode: RPCError.Code {
        switch self {
        case .emptyID, .malformedKey, .tooManyRecords: .invalidArgument
        case .workerKeyConflict, .gatewayKeyConflict: .permissionDenied
        case .workerNotFound, .receiptNotFound, .stepNotFound: .notFound
        case .batchTooLarge: .resourceExhausted
        case .replayFailed: .unavailable
        case .storeFailed: .internalError
        }
    }

    var rpcErrorMessage: String { description }
}
