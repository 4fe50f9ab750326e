import Inference

// The wire's sampling settings follow proto3: an unset field reads as zero, so zero stands
// for "the default" where the engine's neutral value is not zero. These are the only places
// that read or write those defaults; `SamplingParameters.validate()` is the only check.
extension Tessera_V1_SamplingParams {
    public static let defaultTopP: Float = 1
    public static let defaultRepeatPenalty: Float = 1
    public static let defaultRepeatLastN = 64

    /// The engine's parameters for a request: wire defaults filled in (top_p 1,
    /// repeat_penalty 1, repeat_last_n 64, max_tokens `defaultMaxTokens`), and a random seed
    /// when none was given: a session then samples randomly, but replaying it (a failover)
    /// draws the same tokens. Throws the first value out of range.
    public func parameters(defaultMaxTokens: Int) throws(SamplingError) -> SamplingParameters {
        let parameters = SamplingParameters(
            temperature: temperature,
            topK: Int(topK),
            topP: topP == 0 ? Self.defaultTopP : topP,
            minP: minP,
            repeatPenalty: repeatPenalty == 0 ? Self.defaultRepeatPenalty : repeatPenalty,
            repeatLastN: repeatLastN == 0 ? Self.defaultRepeatLastN : Int(repeatLastN),
            presencePenalty: presencePenalty, frequencyPenalty: frequencyPenalty,
            // Token ids keep their bit pattern (TokenIDs+Domain.swift); a huge id reads as a
            // negative one, which validate() refuses.
            logitBias: Dictionary(
                logitBias.map { (Int32(bitPattern: $0.key), $0.value) },
                uniquingKeysWith: { first, _ in first }),
            seed: hasSeed ? seed : UInt64.random(in: .min ... .max),
            stopStrings: stop,
            ignoreEOS: ignoreEos,
            maxTokens: maxTokens == 0 ? defaultMaxTokens : Int(maxTokens),
            responseFormat: hasResponseFormat ? responseFormat.domain : .text)
        try parameters.validate()
        return parameters
    }

    /// Resolved parameters as the wire carries them: every field explicit, the seed included,
    /// so the next hop samples exactly as this one decided.
    public init(_ parameters: SamplingParameters) {
        self.init()
        temperature = parameters.temperature
        topK = UInt32(clamping: parameters.topK)
        topP = parameters.topP
        minP = parameters.minP
        repeatPenalty = parameters.repeatPenalty
        // The wire's 0 means "the default"; the engine's -1 ("every token") goes as the
        // largest window.
        repeatLastN = parameters.repeatLastN < 0 ? .max : UInt32(clamping: parameters.repeatLastN)
        presencePenalty = parameters.presencePenalty
        frequencyPenalty = parameters.frequencyPenalty
        logitBias = Dictionary(
            parameters.logitBias.map { (UInt32(bitPattern: $0.key), $0.value) },
            uniquingKeysWith: { first, _ in first })
        seed = parameters.seed
        stop = parameters.stopStrings
        ignoreEos = parameters.ignoreEOS
        maxTokens = UInt32(clamping: parameters.maxTokens)
        if let format = Tessera_V1_ResponseFormat(parameters.responseFormat) {
            responseFormat = format
        }
    }
}

extension Tessera_V1_ResponseFormat {
    /// An unset or unknown `format` reads as free text.
    public var domain: ResponseFormat {
        switch format {
        case .jsonObject(true)?: .jsonObject
        case .jsonSchema(let schema)?: .jsonSchema(schema)
        default: .text
        }
    }

    /// nil for free text, which the wire leaves unset.
    public init?(_ format: ResponseFormat) {
        self.init()
        switch format {
        case .text: return nil
        case .jsonObject: self.format = .jsonObject(true)
        case .jsonSchema(let schema): self.format = .jsonSchema(schema)
        }
    }
}
