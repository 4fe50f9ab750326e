import Tokenization

/// What a request asks the model to continue. `parseSpecial` lets special-token text in the
/// prompt or the message contents (such as "<|im_start|>") become control tokens; only
/// trusted gRPC callers turn it on (the HTTP API never does).
enum PromptInput: Sendable {
    case text(String, parseSpecial: Bool)
    case chat([ChatMessage], parseSpecial: Bool)
}
