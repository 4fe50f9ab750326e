import Foundation
import Inference
import TesseraProto
import Tokenization

/// A `/v1/chat/completions` or `/v1/completions` body, checked field by field; what each
/// field does is in `OpenAIFieldPolicy`. Sampling defaults are llama.cpp server's
/// (temperature 0.8, top_k 40, top_p 0.95, min_p 0.05), as are the extensions top_k, min_p,
/// repeat_penalty, repeat_last_n and ignore_eos; ranges of OpenAI's own fields are OpenAI's.
struct OpenAIRequest: Sendable {
    enum Endpoint: Sendable { case chat, completion }

    var endpoint: Endpoint
    /// As the client named it ("" = the default model).
    var model: String
    var prompt: PromptInput
    var sampling: Tessera_V1_SamplingParams
    var stream: Bool
    var includeUsageChunk: Bool
    /// `n`: independent choices, each its own session.
    var choices: Int
    /// Logprobs asked for: how many alternatives per token (0 = only the sampled token's);
    /// nil = none.
    var topLogprobs: Int?

    static let maxTokensLimit: Int64 = 1 << 20
    /// Choices one request may ask for: each holds a pipeline session.
    static let maxChoices: Int64 = 16

    init(body: Data, endpoint: Endpoint) throws {
        let document: OrderedJSON
        do {
            guard let text = String(validating: body, as: UTF8.self) else {
                throw OrderedJSONError(offset: 0, reason: "the bytes are not UTF-8")
            }
            document = try OrderedJSON(parsing: text)
        } catch {
            throw GatewayError.invalid("the request body is not valid JSON (UTF-8): \(error)")
        }
        let fields = try JSONFields(document)
        try OpenAIFieldPolicy.check(fields, endpoint: endpoint)
        self.endpoint = endpoint
        model = try fields.string("model") ?? ""
        stream = try fields.bool("stream") ?? false
        includeUsageChunk = try Self.includeUsage(fields)
        switch endpoint {
        case .chat: prompt = .chat(try Self.messages(fields), parseSpecial: false)
        case .completion: prompt = .text(try Self.prompt(fields), parseSpecial: false)
        }
        sampling = try Self.sampling(fields)
        if let format = try OpenAIResponseFormat.read(fields) {
            sampling.responseFormat = format
        }
        choices = Int(try fields.integer("n", in: 1...Self.maxChoices) ?? 1)
        topLogprobs = try Self.logprobs(fields, endpoint: endpoint)
    }

    /// `stream_options`: include_usage; include_obfuscation only off (no padding is sent).
    private static func includeUsage(_ fields: JSONFields) throws -> Bool {
        guard let value = fields.value("stream_options") else { return false }
        let options = try JSONFields(value, context: "stream_options")
        if let unknown = options.fields.keys.sorted().first(where: {
            !["include_usage", "include_obfuscation"].contains($0)
        }) {
            throw GatewayError.invalid(
                "stream_options.\(unknown) is not supported", parameter: "stream_options")
        }
        if try options.bool("include_obfuscation") == true {
            throw GatewayError.invalid(
                "stream_options.include_obfuscation is not supported", parameter: "stream_options")
        }
        return try options.bool("include_usage") ?? false
    }

    /// Chat: `logprobs: true` with `top_logprobs` 0...20; completions: `logprobs` 0...5.
    private static func logprobs(_ fields: JSONFields, endpoint: Endpoint) throws -> Int? {
        switch endpoint {
        case .chat:
            let top = try fields.integer("top_logprobs", in: 0...20)
            guard try fields.bool("logprobs") == true else {
                if top != nil {
                    throw GatewayError.invalid(
                        "top_logprobs requires logprobs to be true", parameter: "top_logprobs")
                }
                return nil
            }
            return Int(top ?? 0)
        case .completion:
            return try fields.integer("logprobs", in: 0...5).map(Int.init)
        }
    }

    private static func sampling(_ fields: JSONFields) throws -> Tessera_V1_SamplingParams {
        var sampling = Tessera_V1_SamplingParams()
        sampling.temperature = Float(try fields.number("temperature", in: 0...2) ?? 0.8)
        sampling.topK = UInt32(try fields.integer("top_k", in: 0...Int64(UInt32.max)) ?? 40)
        // top_p 0 asks for the single most likely token (the proto's 0 would mean "off").
        let topP = try fields.number("top_p", in: 0...1) ?? 0.95
        sampling.topP = topP == 0 ? Float.leastNonzeroMagnitude : Float(topP)
        sampling.minP = Float(try fields.number("min_p", in: 0...1) ?? 0.05)
        if let penalty = try fields.number("repeat_penalty", in: 0...100) {
            guard penalty > 0 else {
                throw GatewayError.invalid(
                    "repeat_penalty must be > 0", parameter: "repeat_penalty")
            }
            sampling.repeatPenalty = Float(penalty)
        }
        // Checked here, on the value sent: repeat_last_n 0 below zeroes them before
        // SamplingParameters.validate() could, and a Float rounds 2.000000001 down to 2.
        let range = SamplingParameters.penaltyRange
        let penalties: ClosedRange<Double> = Double(range.lowerBound)...Double(range.upperBound)
        sampling.presencePenalty = Float(try fields.number("presence_penalty", in: penalties) ?? 0)
        sampling.frequencyPenalty = Float(
            try fields.number("frequency_penalty", in: penalties) ?? 0)
        sampling.logitBias = try logitBias(fields)
        // llama.cpp's -1 is the whole sequence; its 0 turns the penalties off, which the
        // wire (where 0 means "the default window") says by neutral penalties.
        if let window = try fields.integer("repeat_last_n", in: -1...Int64(UInt32.max - 1)) {
            if window == 0 {
                sampling.repeatPenalty = 1
                sampling.presencePenalty = 0
                sampling.frequencyPenalty = 0
            } else {
                sampling.repeatLastN = window < 0 ? .max : UInt32(window)
            }
        }
        // llama.cpp's -1 means "a random seed".
        if let seed = try fields.integer("seed", in: -1...Int64.max), seed >= 0 {
            sampling.seed = UInt64(seed)
        }
        sampling.ignoreEos = try fields.bool("ignore_eos") ?? false
        // Both read (and checked) even when both are given; the newer name wins.
        let maxCompletionTokens = try fields.integer(
            "max_completion_tokens", in: 1...maxTokensLimit)
        let maxTokens = try fields.integer("max_tokens", in: 1...maxTokensLimit)
        if let limit = maxCompletionTokens ?? maxTokens { sampling.maxTokens = UInt32(limit) }
        sampling.stop = try stopStrings(fields)
        return sampling
    }

    /// `logit_bias`: {"token id": bias}. Biases are checked here, ids against the vocabulary
    /// when the request is prepared (SamplingParameters.validate(vocabularySize:)).
    private static func logitBias(_ fields: JSONFields) throws -> [UInt32: Float] {
        guard let value = fields.value("logit_bias") else { return [:] }
        let entries = try JSONFields(value, context: "logit_bias")
        var bias: [UInt32: Float] = [:]
        for (key, entry) in entries.fields {
            guard let token = UInt32(key), token <= UInt32(Int32.max) else {
                throw GatewayError.invalid(
                    "logit_bias keys must be token ids (got \"\(key)\")", parameter: "logit_bias")
            }
            guard let number = JSONFields.finite(entry) else {
                throw JSONFields.wrongType("logit_bias", "an object of numbers", entry)
            }
            // On the value sent: as a Float, 100.000000001 would round into the range.
            let range = SamplingParameters.logitBiasRange
            let allowed: ClosedRange<Double> = Double(range.lowerBound)...Double(range.upperBound)
            guard allowed.contains(number) else {
                throw GatewayError.invalid(
                    "logit_bias (token \(token)) must be between -100 and 100 (got \(JSONFields.format(number)))",
                    parameter: "logit_bias")
            }
            bias[token] = Float(number)
        }
        return bias
    }

    private static func stopStrings(_ fields: JSONFields) throws -> [String] {
        guard let value = fields.value("stop") else { return [] }
        switch value {
        case .string(let text): return [text]
        case .array(let items):
            return try items.map { item in
                guard case .string(let text) = item else {
                    throw JSONFields.wrongType("stop", "a string or an array of strings", value)
                }
                return text
            }
        default: throw JSONFields.wrongType("stop", "a string or an array of strings", value)
        }
    }

    private static func messages(_ fields: JSONFields) throws -> [ChatMessage] {
        guard let value = fields.value("messages") else {
            throw GatewayError.invalid("messages is required", parameter: "messages")
        }
        guard case .array(let items) = value else {
            throw JSONFields.wrongType("messages", "an array", value)
        }
        return try items.enumerated().map { index, item in
            let message = try JSONFields(item, context: "messages[\(index)]")
            // A message's other fields (name, tool_calls, audio, …) would change what the
            // model sees; none is supported, so none is silently dropped.
            if let other = message.fields.keys.sorted().first(where: {
                !["role", "content"].contains($0) && message.value($0) != nil
            }) {
                throw GatewayError.invalid(
                    "messages[\(index)].\(other) is not supported", parameter: "messages")
            }
            guard let role = try message.string("role") else {
                throw GatewayError.invalid(
                    "messages[\(index)].role is required", parameter: "messages")
            }
            // OpenAI's newer name for the system role.
            return ChatMessage(
                role: role == "developer" ? "system" : role,
                content: try content(message, index: index))
        }
    }

    /// A message's content: a string, or an array of text parts (joined).
    private static func content(_ message: JSONFields, index: Int) throws -> String {
        guard let value = message.value("content") else { return "" }
        switch value {
        case .string(let text): return text
        case .array(let parts):
            return try parts.map { part in
                let fields = try JSONFields(part, context: "messages[\(index)].content part")
                guard try fields.string("type") == "text", let text = try fields.string("text")
                else {
                    throw GatewayError.invalid(
                        "messages[\(index)].content parts must be {\"type\": \"text\", \"text\": …}",
                        parameter: "messages")
                }
                return text
            }.joined()
        default:
            throw GatewayError.invalid(
                "messages[\(index)].content must be a string or an array of text parts, not \(value.kindName)",
                parameter: "messages")
        }
    }

    private static func prompt(_ fields: JSONFields) throws -> String {
        guard let value = fields.value("prompt") else {
            throw GatewayError.invalid("prompt is required", parameter: "prompt")
        }
        switch value {
        case .string(let text): return text
        case .array(let items) where items.count == 1:
            if case .string(let text) = items[0] { return text }
        default: break
        }
        throw GatewayError.invalid(
            "prompt must be a string (or an array holding one string)", parameter: "prompt")
    }

}
