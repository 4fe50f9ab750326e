/// How the next token is chosen and when generation stops. Defaults are llama.cpp's.
public struct SamplingParameters: Sendable, Equatable, Codable {
    /// 0 picks the most likely token (greedy); higher values flatten the distribution.
    public var temperature: Float = 0.8
    /// Keep only the k most likely tokens; 0 disables.
    public var topK: Int = 40
    /// Keep the most likely tokens whose probabilities add up to at least p; 1 disables.
    public var topP: Float = 0.95
    /// Drop tokens less likely than minP times the most likely one; 0 disables.
    public var minP: Float = 0.05
    /// Divides positive and multiplies negative logits of recent tokens; 1 disables.
    public var repeatPenalty: Float = 1.0
    /// How many recent tokens the penalty looks at; 0 disables, -1 means all of them.
    public var repeatLastN: Int = 64
    /// OpenAI's presence penalty (-2...2): subtracted once from the logit of every token in
    /// the penalty window (the last `repeatLastN` tokens, as llama.cpp counts them).
    public var presencePenalty: Float = 0
    /// OpenAI's frequency penalty (-2...2): subtracted per occurrence in the penalty window.
    public var frequencyPenalty: Float = 0
    /// Added to a token's logit before anything else (-100...100; ±100 bans or forces it).
    public var logitBias: [Int32: Float] = [:]
    public var seed: UInt64 = 0
    /// Generation stops before the first occurrence of any of these in the output text.
    public var stopStrings: [String] = []
    /// Keep generating past end-of-generation tokens (they are never sampled).
    public var ignoreEOS = false
    public var maxTokens: Int = 256
    /// Free text, or JSON enforced while sampling (see `ResponseFormat`).
    public var responseFormat: ResponseFormat = .text

    public init(
        temperature: Float = 0.8, topK: Int = 40, topP: Float = 0.95, minP: Float = 0.05,
        repeatPenalty: Float = 1.0,
        repeatLastN: Int = 64, presencePenalty: Float = 0, frequencyPenalty: Float = 0,
        logitBias: [Int32: Float] = [:], seed: UInt64 = 0, stopStrings: [String] = [],
        ignoreEOS: Bool = false, maxTokens: Int = 256, responseFormat: ResponseFormat = .text
    ) {
        self.temperature = temperature
        self.topK = topK
        self.topP = topP
        self.minP = minP
        self.repeatPenalty = repeatPenalty
        self.repeatLastN = repeatLastN
        self.presencePenalty = presencePenalty
        self.frequencyPenalty = frequencyPenalty
        self.logitBias = logitBias
        self.seed = seed
        self.stopStrings = stopStrings
        self.ignoreEOS = ignoreEOS
        self.maxTokens = maxTokens
        self.responseFormat = responseFormat
    }

    /// Always the most likely token, no penalties.
    public static let greedy = SamplingParameters(temperature: 0, topK: 0, topP: 1, minP: 0)

    public var isGreedy: Bool { temperature == 0 }

    /// Most stop strings a request may give (each is matched against every token's text).
    public static let maxStopStrings = 16
    /// Most logit_bias entries a request may give (OpenAI's limit too).
    public static let maxLogitBiasEntries = 300
    public static let penaltyRange: ClosedRange<Float> = -2...2
    public static let logitBiasRange: ClosedRange<Float> = -100...100

    /// Throws `SamplingError.invalidParameter` naming the first value out of range, by the
    /// name the APIs use for it. The one place sampling parameters are checked: the gateway,
    /// the worker and the sampler all call it.
    public func validate() throws(SamplingError) {
        func check(_ ok: Bool, _ name: String, _ value: Any, _ rule: String) throws(SamplingError) {
            if !ok {
                throw SamplingError.invalidParameter(name: name, value: "\(value)", rule: rule)
            }
        }
        try check(
            temperature.isFinite && temperature >= 0, "temperature", temperature,
            "must be finite and >= 0")
        try check(topK >= 0, "top_k", topK, "must be >= 0")
        try check(topP.isFinite && topP > 0 && topP <= 1, "top_p", topP, "must be in (0, 1]")
        try check(minP.isFinite && minP >= 0 && minP <= 1, "min_p", minP, "must be in [0, 1]")
        try check(
            repeatPenalty.isFinite && repeatPenalty > 0, "repeat_penalty", repeatPenalty,
            "must be finite and > 0")
        try check(repeatLastN >= -1, "repeat_last_n", repeatLastN, "must be >= -1")
        try check(
            Self.penaltyRange.contains(presencePenalty), "presence_penalty", presencePenalty,
            "must be between -2 and 2")
        try check(
            Self.penaltyRange.contains(frequencyPenalty), "frequency_penalty", frequencyPenalty,
            "must be between -2 and 2")
        try check(
            logitBias.count <= Self.maxLogitBiasEntries, "logit_bias", logitBias.count,
            "entries given; at most \(Self.maxLogitBiasEntries) are allowed")
        for (token, bias) in logitBias.sorted(by: { $0.key < $1.key }) {
            try check(token >= 0, "logit_bias", token, "is not a token id (must be >= 0)")
            try check(
                Self.logitBiasRange.contains(bias), "logit_bias", bias,
                "(token \(token)) must be between -100 and 100")
        }
        try check(maxTokens >= 0, "max_tokens", maxTokens, "must be >= 0")
        try check(
            stopStrings.count <= Self.maxStopStrings, "stop", stopStrings.count,
            "strings given; at most \(Self.maxStopStrings) are allowed")
        try check(
            !stopStrings.contains(""), "stop", stopStrings, "must not contain an empty string")
        if responseFormat != .text {
            try check(
                !ignoreEOS, "ignore_eos", ignoreEOS,
                "cannot be combined with a JSON response format (generation ends when the document does)"
            )
            do {
                _ = try responseFormat.grammar()
            } catch {
                throw SamplingError.invalidParameter(
                    name: "response_format", value: responseFormat.kindName,
                    rule: "cannot be enforced: \(error)")
            }
        }
    }

    /// `validate()` plus what needs the model: logit_bias ids must be in its vocabulary.
    public func validate(vocabularySize: Int) throws(SamplingError) {
        try validate()
        if let token = logitBias.keys.filter({ Int($0) >= vocabularySize }).min() {
            throw SamplingError.invalidParameter(
                name: "logit_bias", value: "\(token)",
                rule: "is not a token id of this model (vocabulary 0..<\(vocabularySize))")
        }
    }
}

public enum SamplingError: Error, CustomStringConvertible, Equatable, Sendable {
    case invalidParameter(name: String, value: String, rule: String)
    case emptyLogits
    case noFiniteLogits
    /// The response format's grammar allows no token here (it should always allow one).
    case noAllowedToken

    public var description: String {
        switch self {
        case .invalidParameter(let name, let value, let rule): "\(name) = \(value) \(rule)"
        case .emptyLogits: "cannot sample from an empty logit vector"
        case .noFiniteLogits: "every logit is -infinity or NaN; nothing can be sampled"
        case .noAllowedToken: "the response format allows no token of the vocabulary here"
        }
    }
}

extension SamplingError {
    /// The parameter at fault, when there is one (OpenAI's error `param`).
    public var parameterName: String? {
        if case .invalidParameter(let name, _, _) = self { name } else { nil }
    }
}
