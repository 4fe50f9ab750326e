import Integrity

/// Why a generation ended.
enum FinishReason: Sendable, Equatable {
    /// An end-of-generation token or a stop string.
    case stop
    /// max_tokens, or the context is full.
    case length
}

/// One of the most likely tokens at a position, with its raw logit and log-probability.
struct TokenLogit: Sendable, Equatable {
    var tokenID: Int32
    var logit: Float
    var logprob: Float = 0
}

/// One generated token as the APIs stream it. The last update of a generation carries the
/// finish reason (and the APIs add usage from the summary).
struct GenerationUpdate: Sendable {
    var tokenID: Int32
    /// Text that became visible with this token: may be empty (a split character, a possible
    /// stop string held back) or include text held back earlier.
    var text: String
    /// The token's log-probability under the raw logits; reported (non-zero) only when top
    /// logits were asked for.
    var logprob: Float = 0
    var topLogits: [TokenLogit]
    var finishReason: FinishReason?
    /// Tokens generated so far, this one included (the usage on the last update).
    var completionTokens: Int
    /// The last update's signed receipt (what the verifier can check), when one was issued.
    var receipt: ReceiptBody?
}

struct GenerationSummary: Sendable {
    var promptTokens: Int
    var completionTokens = 0
    var finishReason: FinishReason = .stop
    var failovers = 0
    /// The longest gap between two tokens the client saw because of a failover.
    var longestFailoverPause: Duration = .zero
    var timeToFirstToken: Duration = .zero
    /// The signed receipt over the generation's commitments.
    var receipt: ReceiptBody?
}
