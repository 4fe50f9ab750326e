import GGUF
import ModelArchitecture
import ServiceKit
import Tokenization

/// What the gateway needs to turn requests into tokens and tokens into text for one model,
/// built from the model's vocabulary shard (layers [0, 0): metadata only).
struct ModelVocabulary: Sendable {
    let model: ModelReference
    let tokenizer: Tokenizer
    let chatTemplate: ChatTemplate
    /// The system prompt the model's own Jinja template adds when a conversation has none.
    let defaultSystemPrompt: String?
    let contextLength: Int

    init(model: ModelReference, gguf: GGUFFile) throws {
        self.model = model
        tokenizer = try Tokenizer(gguf: gguf)
        // The declared template, else the family's (Gemma 3 270M declares none).
        let choice = tokenizer.chatTemplateChoice
        chatTemplate = choice.template
        defaultSystemPrompt = choice.defaultSystemPrompt
        contextLength = try ModelArchitecture(gguf: gguf).contextLength
    }

    /// A plain prompt, tokenized as `tessera run` does (BOS when the model wants one).
    func encode(prompt: String, parseSpecial: Bool) -> [Int32] {
        tokenizer.encode(prompt, addSpecial: true, parseSpecial: parseSpecial)
    }

    /// A conversation rendered with the model's chat template and an open assistant turn,
    /// with the template's default system prompt when there is no system message: what
    /// `tessera run --chat` feeds the model for a single user message. Message contents are
    /// plain text unless `parseSpecial` (trusted callers): "<|im_start|>" written by a user
    /// stays those characters, so no one can forge a turn of another role.
    func encode(chat messages: [ChatMessage], parseSpecial: Bool) -> [Int32] {
        guard !parseSpecial else {
            let text = chatTemplate.render(
                messages, addGenerationPrompt: true, defaultSystemPrompt: defaultSystemPrompt)
            return tokenizer.encode(text, addSpecial: true, parseSpecial: true)
        }
        return ChatPromptEncoder(tokenizer: tokenizer).encode(
            messages, template: chatTemplate, defaultSystemPrompt: defaultSystemPrompt)
    }
}
