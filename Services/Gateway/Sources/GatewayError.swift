import GRPCCore

/// Why a generation request could not be served, in terms both APIs can express: the gRPC
/// status for `Generate`/`Chat` and the HTTP status plus OpenAI error type for the HTTP API.
struct GatewayError: Error, CustomStringConvertible, Sendable {
    enum Kind: Sendable, Equatable {
        /// Malformed or out-of-range input (400 / INVALID_ARGUMENT).
        case invalidArgument
        /// The prompt leaves no room in the model's context (413 / INVALID_ARGUMENT).
        case promptTooLong
        /// No such model in the cache-manager (404 / NOT_FOUND).
        case modelNotFound
        /// No pipeline (or no cache-manager) could serve it in time (503 / UNAVAILABLE).
        case unavailable
        /// Something broke inside the cluster that retrying did not fix (500 / INTERNAL).
        case internalError
    }

    var kind: Kind
    var message: String
    /// The request field at fault, when there is one (OpenAI's `param`).
    var parameter: String?

    init(_ kind: Kind, _ message: String, parameter: String? = nil) {
        self.kind = kind
        self.message = message
        self.parameter = parameter
    }

    var description: String { message }

    var rpcError: RPCError {
        let code: RPCError.Code =
            switch kind {
            case .invalidArgument, .promptTooLong: .invalidArgument
            case .modelNotFound: .notFound
            case .unavailable: .unavailable
            case .internalError: .internalError
            }
        return RPCError(code: code, message: message)
    }

    static func invalid(_ message: String, parameter: String? = nil) -> GatewayError {
        GatewayError(.invalidArgument, message, parameter: parameter)
    }
}
