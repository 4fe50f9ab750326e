import Foundation
import TesseraProto
import Tokenization

/// A `/v1/chat/completions` or `/v1/completions` body, checked field by field. Sampling
/// defaults are llama.cpp server's (temperature 0.8, top_k 40, top_p 0.95, min_p 0.05),
/// as are the extensions top_k, min_p, repeat_penalty, repeat_last_n and ignore_eos.
struct OpenAIRequest: Sendable {
    enum Endpoint: Sendable { case chat, completion }

    var endpoint: Endpoint
    /// As the client named it ("" = the default model).
    var model: String
    var prompt: PromptInput
    var sampling: Tessera_V1_SamplingParams
    var stream: Bool
    var includeUsageChunk: Bool

    static let maxTokensLimit: Int64 = 1 << 20

    init(body: Data, endpoint: Endpoint) throws {
        let document: JSONValue
        do {
            document = try JSONDecoder().decode(JSONValue.self, from: body)
        } catch {
            throw GatewayError.invalid(
                "the request body is not valid JSON (UTF-8): \(Self.describe(error))")
        }
        let fields = try JSONFields(document)
        self.endpoint = endpoint
        model = try fields.string("model") ?? ""
        stream = try fields.bool("stream") ?? false
        includeUsageChunk = false
        if let options = fields.value("stream_options") {
            includeUsageChunk =
                try JSONFields(options, context: "stream_options").bool("include_usage") ?? false
        }
        switch endpoint {
        case .chat: prompt = .chat(try Self.messages(fields))
        case .completion: prompt = .text(try Self.prompt(fields), parseSpecial: false)
        }
        sampling = try Self.sampling(fields)
        if let n = try fields.integer("n", in: 1...Int64.max), n != 1 {
            throw GatewayError.invalid("only n = 1 is supported", parameter: "n")
        }
        // Chat says logprobs: true, completions logprobs: <count>; neither is supported.
        for name in ["logprobs", "top_logprobs"] {
            switch fields.value(name) {
            case nil, .bool(false)?, .number(0)?: continue
            default: throw GatewayError.invalid("\(name) is not supported", parameter: name)
            }
        }
        for name in ["presence_penalty", "frequency_penalty"] {
            if let value = try fields.number(name, in: -2...2), value != 0 {
                throw GatewayError.invalid(
                    "\(name) is not supported (use repeat_penalty)", parameter: name)
            }
        }
    }

    private static func sampling(_ fields: JSONFields) throws -> Tessera_V1_SamplingParams {
        var sampling = Tessera_V1_SamplingParams()
        sampling.temperature = Float(try fields.number("temperature", in: 0...100) ?? 0.8)
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
        if let window = try fields.integer("repeat_last_n", in: 0...Int64(UInt32.max)) {
            sampling.repeatLastN = UInt32(window)
        }
        // llama.cpp's -1 means "a random seed".
        if let seed = try fields.integer("seed", in: -1...Int64.max), seed >= 0 {
            sampling.seed = UInt64(seed)
        }
        sampling.ignoreEos = try fields.bool("ignore_eos") ?? false
        let maxTokens =
            try fields.integer("max_completion_tokens", in: 1...maxTokensLimit)
            ?? fields.integer("max_tokens", in: 1...maxTokensLimit)
        if let maxTokens { sampling.maxTokens = UInt32(maxTokens) }
        sampling.stop = try stopStrings(fields)
        return sampling
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

    private static func describe(_ error: any Error) -> String {
        if case DecodingError.dataCorrupted(let context) = error {
            let underlying =
                (context.underlyingError as NSError?)?.userInfo[NSDebugDescriptionErrorKey]
                as? String
            return underlying ?? context.debugDescription
        }
        return "\(error)"
    }
}
