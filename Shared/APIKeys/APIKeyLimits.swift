/// What one API key may use. 0 means "no limit" for each.
public struct APIKeyLimits: Sendable, Equatable, Codable {
    /// Requests admitted in any 60-second window.
    public var requestsPerMinute: Int
    /// Prompt plus completion tokens in any 60-second window; a request is admitted while
    /// the window holds fewer (its own tokens are counted when it ends).
    public var tokensPerMinute: Int
    /// Generations running at once (a streamed or whole completion, a gRPC Generate or Chat).
    public var concurrentStreams: Int

    public init(requestsPerMinute: Int = 0, tokensPerMinute: Int = 0, concurrentStreams: Int = 0) {
        self.requestsPerMinute = requestsPerMinute
        self.tokensPerMinute = tokensPerMinute
        self.concurrentStreams = concurrentStreams
    }

    /// The limits a new key gets when `tessera keys create` is not told otherwise:
    /// TESSERA_KEY_DEFAULT_RPM / _TPM / _STREAMS, else 600 requests and 200,000 tokens a
    /// minute and 16 streams (generous for one user, small enough that one runaway client
    /// cannot take a whole small cluster).
    public static func defaults(environment: [String: String]) -> APIKeyLimits {
        func value(_ name: String, _ fallback: Int) -> Int {
            environment[name].flatMap { Int($0) }.map { max(0, $0) } ?? fallback
        }
        return APIKeyLimits(
            requestsPerMinute: value("TESSERA_KEY_DEFAULT_RPM", 600),
            tokensPerMinute: value("TESSERA_KEY_DEFAULT_TPM", 200_000),
            concurrentStreams: value("TESSERA_KEY_DEFAULT_STREAMS", 16))
    }
}

/// What one key has used since it was created.
public struct APIKeyUsage: Sendable, Equatable {
    public var requests: Int
    public var promptTokens: Int
    public var completionTokens: Int

    public init(requests: Int = 0, promptTokens: Int = 0, completionTokens: Int = 0) {
        self.requests = requests
        self.promptTokens = promptTokens
        self.completionTokens = completionTokens
    }
}
