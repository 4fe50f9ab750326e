import Inference

/// Why a generation request could not be served, in terms both APIs can express: the gRPC
/// status for `Generate`/`Chat` (GatewayError+GRPC.swift) and the HTTP status plus OpenAI
/// error type for the HTTP API (OpenAI/GatewayError+OpenAI.swift).
struct GatewayError: Error, CustomStringConvertible, Sendable {
    enum Kind: Sendable, Equatable {
        /// Malformed or out-of-range input (400 / INVALID_ARGUMENT).
        case invalidArgument
        /// The prompt leaves no room in the model's context (400 / INVALID_ARGUMENT).
        case promptTooLong
        /// No such model in the cache-manager (404 / NOT_FOUND).
        case modelNotFound
        /// No pipeline (or no cache-manager) could serve it in time (503 / UNAVAILABLE).
        case unavailable
        /// Every session slot is in use and the admission queue is full (429 /
        /// RESOURCE_EXHAUSTED).
        case queueFull
        /// It waited in the admission queue for the gateway's longest wait and no slot freed
        /// (429 / RESOURCE_EXHAUSTED).
        case queueTimeout
        /// Every session slot is in use and the predicted wait for one is longer than the
        /// request may wait: refused before waiting (429 / RESOURCE_EXHAUSTED, with the
        /// prediction as when to retry).
        case predictedWaitTooLong
        /// The gRPC client's own deadline ran out while it waited (DEADLINE_EXCEEDED; 504).
        case deadlineExceeded
        /// Something broke inside the cluster that retrying did not fix (500 / INTERNAL).
        case internalError
        /// No API key, or one the store does not know or has revoked (401 / UNAUTHENTICATED).
        case unauthenticated
        /// The API key is over one of its limits: requests or tokens per minute, concurrent
        /// streams (429 / RESOURCE_EXHAUSTED, with when to retry).
        case keyRateLimited
    }

    var kind: Kind
    var message: String
    /// The request field at fault, when there is one (OpenAI's `param`).
    var parameter: String?
    /// When trying again may work (HTTP `Retry-After` on a 503 or 429, gRPC's
    /// `grpc-retry-pushback-ms`).
    var retryAfter: Duration?

    init(_ kind: Kind, _ message: String, parameter: String? = nil, retryAfter: Duration? = nil) {
        self.kind = kind
        self.message = message
        self.parameter = parameter
        self.retryAfter = retryAfter
    }

    var description: String { message }

    static func invalid(_ message: String, parameter: String? = nil) -> GatewayError {
        GatewayError(.invalidArgument, message, parameter: parameter)
    }

    /// A sampling value out of range, naming the field as the APIs spell it.
    init(_ error: SamplingError) {
        self.init(.invalidArgument, "\(error)", parameter: error.parameterName)
    }
}
