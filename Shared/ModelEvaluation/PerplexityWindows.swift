import Tokenization

/// How llama.cpp's `llama-perplexity` cuts a token stream: non-overlapping windows of
/// `contextLength` tokens (a partial last window is dropped), each run from an empty cache;
/// only the second half of each window is scored, so every scored token sees at least
/// `contextLength / 2` tokens of context. With a BOS-adding model the first token of every
/// window is replaced by BOS, as llama-perplexity does.
public struct PerplexityWindows: Sendable {
    public let contextLength: Int
    public let windows: [[Int32]]

    public struct TooFewTokens: Error, CustomStringConvertible {
        public let tokens: Int
        public let contextLength: Int
        public var description: String {
            "the evaluation text has \(tokens) tokens, fewer than one window of \(contextLength)"
        }
    }

    public init(tokens: [Int32], contextLength: Int, bos: Int32? = nil) throws {
        guard contextLength >= 4, tokens.count >= contextLength else {
            throw TooFewTokens(tokens: tokens.count, contextLength: contextLength)
        }
        self.contextLength = contextLength
        var windows: [[Int32]] = []
        var start = 0
        while start + contextLength <= tokens.count {
            var window = Array(tokens[start..<(start + contextLength)])
            if let bos { window[0] = bos }
            windows.append(window)
            start += contextLength
        }
        self.windows = windows
    }

    /// The windows of the evaluation text, tokenized by the reference model's tokenizer
    /// (no special tokens added: BOS, if the model wants it, comes from the window rule).
    public init(text: EvaluationText, tokenizer: Tokenizer, options: EvaluationOptions) throws {
        let tokens = tokenizer.encode(text.evaluation, addSpecial: false)
        try self.init(
            tokens: Array(tokens.prefix(options.evaluationTokens)),
            contextLength: options.contextLength,
            bos: tokenizer.addsBOS ? tokenizer.bosTokenID : nil)
    }

    /// Logit rows scored in each window: row `i` predicts token `i + 1` (llama.cpp: from
    /// `n_ctx / 2` to `n_ctx - 2`).
    public var scoredRows: Range<Int> { (contextLength / 2)..<(contextLength - 1) }

    public var scoredTokenCount: Int { windows.count * scoredRows.count }
    public var tokenCount: Int { windows.count * contextLength }
}
