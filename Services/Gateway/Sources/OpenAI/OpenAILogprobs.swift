import Tokenization

/// A choice's `logprobs` in OpenAI's two shapes: chat (`content`: one entry per token with
/// its bytes and `top_logprobs`) and text completions (`tokens`, `token_logprobs`,
/// `top_logprobs` as {text: logprob}, `text_offset`). Values are the model's log-softmax of
/// the raw logits, as the pipeline's last stage reports them.
struct OpenAILogprobs: Encodable, Sendable {
    struct Alternative: Sendable {
        var token: String
        var bytes: [UInt8]
        var logprob: Float
    }

    struct Entry: Sendable {
        var token: Alternative
        var top: [Alternative]
        /// Where the token's text starts in the choice's text (Unicode scalars).
        var textOffset: Int
    }

    var endpoint: OpenAIRequest.Endpoint
    var entries: [Entry] = []

    private enum Keys: String, CodingKey {
        case content, refusal, tokens, tokenLogprobs, topLogprobs, textOffset
    }

    private struct ChatEntry: Encodable {
        var token: String
        var logprob: Float
        var bytes: [UInt8]
        var topLogprobs: [ChatEntry]?
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Keys.self)
        switch endpoint {
        case .chat:
            try container.encode(
                entries.map { entry in
                    ChatEntry(
                        token: entry.token.token, logprob: entry.token.logprob,
                        bytes: entry.token.bytes,
                        topLogprobs: entry.top.map {
                            ChatEntry(token: $0.token, logprob: $0.logprob, bytes: $0.bytes)
                        })
                }, forKey: .content)
            try container.encodeNil(forKey: .refusal)
        case .completion:
            try container.encode(entries.map(\.token.token), forKey: .tokens)
            try container.encode(entries.map(\.token.logprob), forKey: .tokenLogprobs)
            try container.encode(
                entries.map { entry in
                    // Two ids with the same text keep the likelier (listed first).
                    Dictionary(
                        entry.top.map { ($0.token, $0.logprob) }, uniquingKeysWith: { a, _ in a })
                }, forKey: .topLogprobs)
            try container.encode(entries.map(\.textOffset), forKey: .textOffset)
        }
    }
}

/// Turns each generated token into a logprobs entry, keeping count of the text offset.
struct OpenAILogprobsBuilder: Sendable {
    let tokenizer: Tokenizer
    /// Alternatives per token (the pipeline is asked for at least one).
    let top: Int
    private var offset = 0

    init(tokenizer: Tokenizer, top: Int) {
        self.tokenizer = tokenizer
        self.top = top
    }

    /// The token's entry; nil for an end-of-generation token (OpenAI lists only the text's
    /// tokens).
    mutating func entry(for update: GenerationUpdate) -> OpenAILogprobs.Entry? {
        guard !tokenizer.isEndOfGeneration(update.tokenID) else { return nil }
        let token = alternative(update.tokenID, update.logprob)
        defer { offset += token.token.unicodeScalars.count }
        return OpenAILogprobs.Entry(
            token: token,
            top: update.topLogits.prefix(top).map { alternative($0.tokenID, $0.logprob) },
            textOffset: offset)
    }

    private func alternative(_ id: Int32, _ logprob: Float) -> OpenAILogprobs.Alternative {
        let bytes = (try? tokenizer.piece(for: id)) ?? []
        return .init(token: String(decoding: bytes, as: UTF8.self), bytes: bytes, logprob: logprob)
    }
}
