import Foundation
import TesseraProto

/// The JSON shapes of OpenAI's chat and text completions (whole and streamed chunks) and of
/// its errors. Encoded with snake_case keys.
struct OpenAICompletion: Encodable {
    var id: String
    var object: String
    var created: Int
    var model: String
    var choices: [OpenAIChoice]
    var usage: OpenAIUsage?
    /// Tessera: the signed receipt (of the first choice; each choice carries its own).
    var receipt: OpenAIReceipt?
}

struct OpenAIChoice: Encodable {
    var index = 0
    /// Chat, whole answer.
    var message: OpenAIMessage?
    /// Chat, streamed chunk.
    var delta: OpenAIMessage?
    /// Text completion (whole or chunk).
    var text: String?
    /// Null unless asked for.
    var logprobs: OpenAILogprobs?
    var finishReason: String?
    /// Tessera: this choice's signed receipt, once it finished.
    var receipt: OpenAIReceipt?

    private enum CodingKeys: String, CodingKey {
        case index, message, delta, text, logprobs, finishReason, receipt
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(index, forKey: .index)
        try container.encodeIfPresent(message, forKey: .message)
        try container.encodeIfPresent(delta, forKey: .delta)
        try container.encodeIfPresent(text, forKey: .text)
        try container.encode(logprobs, forKey: .logprobs)
        // OpenAI sends an explicit null until the last chunk.
        try container.encode(finishReason, forKey: .finishReason)
        try container.encodeIfPresent(receipt, forKey: .receipt)
    }
}

/// A message or a delta: absent fields are left out (the final chunk's delta is `{}`).
struct OpenAIMessage: Encodable {
    var role: String?
    var content: String?
}

struct OpenAIUsage: Encodable {
    var promptTokens: Int
    var completionTokens: Int
    var totalTokens: Int

    init(promptTokens: Int, completionTokens: Int) {
        self.promptTokens = promptTokens
        self.completionTokens = completionTokens
        totalTokens = promptTokens + completionTokens
    }
}

struct OpenAIErrorBody: Encodable {
    struct Detail: Encodable {
        var message: String
        var type: String
        var param: String?
        var code: String?

        private enum CodingKeys: String, CodingKey { case message, type, param, code }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(message, forKey: .message)
            try container.encode(type, forKey: .type)
            try container.encode(param, forKey: .param)
            try container.encode(code, forKey: .code)
        }
    }

    var error: Detail
}

struct OpenAIModelList: Encodable {
    /// Also the body of `GET /v1/models/{id}`.
    struct Model: Encodable {
        var id: String
        var object = "model"
        var created: Int
        var ownedBy = "tessera"
        /// Tessera extras: the model's SHA-256, context length, whether a pipeline is ready,
        /// its serving state (cold, loading, warm, evicting) and its planned pipelines.
        var sha256: String
        var contextLength: Int
        var ready: Bool
        var state: String
        var replicas: Int
    }

    var object = "list"
    var data: [Model]
}

enum OpenAIJSON {
    static func encode(_ value: some Encodable) -> Data {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.withoutEscapingSlashes, .sortedKeys]
        // Every value here is plain strings and numbers; encoding cannot fail.
        return (try? encoder.encode(value)) ?? Data("{}".utf8)
    }

}
