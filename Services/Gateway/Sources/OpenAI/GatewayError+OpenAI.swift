import Hummingbird

// The gateway's errors as the HTTP API answers them: a status and OpenAI's error body.
extension GatewayError {
    var httpStatus: HTTPResponse.Status {
        switch kind {
        case .invalidArgument, .promptTooLong: .badRequest
        case .modelNotFound: .notFound
        case .unavailable: .serviceUnavailable
        case .queueFull, .queueTimeout, .predictedWaitTooLong: .tooManyRequests
        case .deadlineExceeded: .gatewayTimeout
        case .internalError: .internalServerError
        case .unauthenticated: .unauthorized
        case .keyRateLimited: .tooManyRequests
        }
    }

    /// OpenAI's `error.type`.
    var openAIType: String {
        switch kind {
        case .invalidArgument, .promptTooLong, .modelNotFound: "invalid_request_error"
        case .unavailable: "unavailable_error"
        case .queueFull, .queueTimeout, .predictedWaitTooLong: "rate_limit_exceeded"
        case .deadlineExceeded: "timeout_error"
        case .internalError: "server_error"
        // As OpenAI answers a bad key, and a key over its rate limit.
        case .unauthenticated: "invalid_request_error"
        case .keyRateLimited: "requests"
        }
    }

    /// OpenAI's `error.code`.
    var openAICode: String {
        switch kind {
        case .invalidArgument: "invalid_value"
        case .promptTooLong: "context_length_exceeded"
        case .modelNotFound: "model_not_found"
        case .unavailable: "service_unavailable"
        case .queueFull: "queue_full"
        case .queueTimeout: "queue_timeout"
        case .predictedWaitTooLong: "predicted_wait_too_long"
        case .deadlineExceeded: "deadline_exceeded"
        case .internalError: "internal_error"
        case .unauthenticated: "invalid_api_key"
        case .keyRateLimited: "rate_limit_exceeded"
        }
    }
}

extension OpenAIErrorBody {
    init(_ error: GatewayError) {
        self.init(
            error: .init(
                message: error.message, type: error.openAIType, param: error.parameter,
                code: error.openAICode))
    }
}

extension FinishReason {
    /// OpenAI's `finish_reason`.
    var openAIName: String {
        switch self {
        case .stop: "stop"
        case .length: "length"
        }
    }
}
