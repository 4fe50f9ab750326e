/// Which chat template a model gets and why: the one its GGUF declares, its family's when
/// the GGUF declares none (the Gemma 3 270M file has no `tokenizer.chat_template`), or ChatML
/// as the last resort. `summary` is what the CLI prints so the choice is never silent.
public struct ChatTemplateChoice: Sendable, Equatable {
    public enum Origin: Sendable, Equatable {
        /// Recognised from the GGUF's own `tokenizer.chat_template`.
        case declared
        /// The GGUF declares no template; this is its architecture's usual format.
        case familyDefault(architecture: String)
        /// Neither the GGUF nor its family says; ChatML is a guess.
        case chatMLFallback(reason: String)
    }

    public let template: ChatTemplate
    public let origin: Origin
    /// The system prompt the declared Jinja inserts when a conversation has none.
    public let defaultSystemPrompt: String?

    public var summary: String {
        switch origin {
        case .declared:
            "chat template \(template.rawValue) (declared by the model)"
        case .familyDefault(let architecture):
            "chat template \(template.rawValue) (the model declares none; \(architecture)'s format)"
        case .chatMLFallback(let reason):
            "chat template chatml (fallback: \(reason))"
        }
    }

    /// Chooses for a model whose GGUF holds `jinja` (nil when absent) and declares
    /// `general.architecture`; `hasToken` looks a token text up in its vocabulary.
    public static func choose(
        jinja: String?, architecture: String?, hasToken: (String) -> Bool
    ) -> ChatTemplateChoice {
        if let jinja, !jinja.isEmpty {
            do {
                return ChatTemplateChoice(
                    template: try ChatTemplate.detect(jinja: jinja), origin: .declared,
                    defaultSystemPrompt: ChatTemplate.defaultSystemPrompt(inJinja: jinja))
            } catch {
                return ChatTemplateChoice(
                    template: .chatML, origin: .chatMLFallback(reason: "\(error)"),
                    defaultSystemPrompt: nil)
            }
        }
        guard let architecture else {
            return ChatTemplateChoice(
                template: .chatML,
                origin: .chatMLFallback(reason: "no template and no general.architecture"),
                defaultSystemPrompt: nil)
        }
        if let family = ChatTemplate.familyDefault(architecture: architecture, hasToken: hasToken) {
            return ChatTemplateChoice(
                template: family, origin: .familyDefault(architecture: architecture),
                defaultSystemPrompt: nil)
        }
        return ChatTemplateChoice(
            template: .chatML,
            origin: .chatMLFallback(
                reason: "no template, and \(architecture) has no single usual one"),
            defaultSystemPrompt: nil)
    }
}

extension ChatTemplate {
    /// The format a family's instruction-tuned models use, for GGUFs that declare no
    /// template. The architecture name alone does not settle `llama` (Llama 2, Llama 3 and
    /// Mistral all declare it), so there the vocabulary decides: Llama 3's header tokens mean
    /// Llama 3's format; anything else has no family default.
    public static func familyDefault(architecture: String, hasToken: (String) -> Bool)
        -> ChatTemplate?
    {
        switch architecture {
        case "gemma", "gemma2", "gemma3": .gemma
        case "qwen2", "qwen3": .chatML
        case "phi3": .phi3
        case "llama": hasToken("<|start_header_id|>") && hasToken("<|eot_id|>") ? .llama3 : nil
        default: nil
        }
    }
}

extension Tokenizer {
    /// The chat template this model gets (see `ChatTemplateChoice`).
    public var chatTemplateChoice: ChatTemplateChoice {
        ChatTemplateChoice.choose(
            jinja: chatTemplateSource, architecture: architecture,
            hasToken: { tokenID(forText: $0) != nil })
    }
}
