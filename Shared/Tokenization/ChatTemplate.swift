/// One turn of a conversation.
public struct ChatMessage: Sendable, Equatable {
    public var role: String
    public var content: String

    public init(role: String, content: String) {
        self.role = role
        self.content = content
    }
}

public enum ChatTemplateError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The model has no `tokenizer.chat_template`.
    case missingTemplate
    /// The Jinja text matches none of the known formats.
    case unknownTemplate(excerpt: String)
    /// The Jinja text is a known format Tessera does not render.
    case unsupportedTemplate(name: String)

    public var description: String {
        switch self {
        case .missingTemplate:
            "the model has no tokenizer.chat_template; pass a template explicitly or allow the ChatML fallback"
        case .unknownTemplate(let excerpt):
            "unrecognised chat template (starts \(excerpt.debugDescription)); supported: "
                + ChatTemplate.allCases.map(\.rawValue).joined(separator: ", ")
                + "; ChatML can be used as an explicit fallback"
        case .unsupportedTemplate(let name):
            "chat template \(name) is recognised but not supported; supported: "
                + ChatTemplate.allCases.map(\.rawValue).joined(separator: ", ")
        }
    }
}

/// The conversation formats Tessera renders, written to produce exactly the strings of
/// llama.cpp's built-in template code (`llm_chat_apply_template`), which does not run Jinja:
/// for example SmolLM2's Jinja adds a default system prompt that llama.cpp's ChatML does not.
/// Raw values are llama.cpp's template names.
public enum ChatTemplate: String, Sendable, CaseIterable {
    case chatML = "chatml"
    /// Llama 2 without system-message support (a system message is prepended as plain text).
    case llama2 = "llama2"
    /// Llama 2 with `<<SYS>>` system messages.
    case llama2System = "llama2-sys"
    /// Like `llama2System`, with `<s>` before each later `[INST]`.
    case llama2SystemBOS = "llama2-sys-bos"
    /// Like `llama2System`, with message contents trimmed.
    case llama2SystemStrip = "llama2-sys-strip"
    case llama3 = "llama3"
    case gemma = "gemma"
    case zephyr = "zephyr"
    case phi3 = "phi3"
    /// Mistral's "v7" format with [SYSTEM_PROMPT] blocks (and its tekken variant without spaces).
    case mistralV7 = "mistral-v7"
    case mistralV7Tekken = "mistral-v7-tekken"

    /// The prompt text for `messages`; `addGenerationPrompt` opens the assistant's turn.
    /// Special-token markers are plain text here: tokenize with `parseSpecial: true`.
    /// `defaultSystemPrompt` is inserted as a first system message when the conversation has
    /// none (what some models' Jinja does, see `defaultSystemPrompt(inJinja:)`).
    public func render(
        _ messages: [ChatMessage], addGenerationPrompt: Bool, defaultSystemPrompt: String? = nil
    ) -> String {
        if let defaultSystemPrompt, messages.first?.role != "system" {
            return render(
                [ChatMessage(role: "system", content: defaultSystemPrompt)] + messages,
                addGenerationPrompt: addGenerationPrompt)
        }
        switch self {
        case .chatML:
            var out = messages.map { "<|im_start|>\($0.role)\n\($0.content)<|im_end|>\n" }.joined()
            if addGenerationPrompt { out += "<|im_start|>assistant\n" }
            return out
        case .llama2, .llama2System, .llama2SystemBOS, .llama2SystemStrip:
            return renderLlama2(messages)
        case .llama3:
            var out = messages.map {
                "<|start_header_id|>\($0.role)<|end_header_id|>\n\n\(Self.trim($0.content))<|eot_id|>"
            }.joined()
            if addGenerationPrompt { out += "<|start_header_id|>assistant<|end_header_id|>\n\n" }
            return out
        case .gemma:
            return renderGemma(messages, addGenerationPrompt: addGenerationPrompt)
        case .zephyr:
            var out = messages.map { "<|\($0.role)|>\n\($0.content)<|endoftext|>\n" }.joined()
            if addGenerationPrompt { out += "<|assistant|>\n" }
            return out
        case .phi3:
            var out = messages.map { "<|\($0.role)|>\n\($0.content)<|end|>\n" }.joined()
            if addGenerationPrompt { out += "<|assistant|>\n" }
            return out
        case .mistralV7, .mistralV7Tekken:
            // No generation-prompt marker: the assistant simply continues after [/INST].
            let space = self == .mistralV7 ? " " : ""
            return messages.map { message in
                switch message.role {
                case "system": "[SYSTEM_PROMPT]\(space)\(message.content)[/SYSTEM_PROMPT]"
                case "user": "[INST]\(space)\(message.content)[/INST]"
                default: "\(space)\(message.content)</s>"
                }
            }.joined()
        }
    }

    /// Llama 2 has no generation-prompt marker: the prompt ends after "[/INST]".
    private func renderLlama2(_ messages: [ChatMessage]) -> String {
        let supportsSystem = self != .llama2
        var out = "[INST] "
        var insideTurn = true
        for message in messages {
            let content = self == .llama2SystemStrip ? Self.trim(message.content) : message.content
            if !insideTurn {
                insideTurn = true
                out += self == .llama2SystemBOS ? "<s>[INST] " : "[INST] "
            }
            switch message.role {
            case "system":
                out += supportsSystem ? "<<SYS>>\n\(content)\n<</SYS>>\n\n" : "\(content)\n"
            case "user":
                out += "\(content) [/INST]"
            default:
                out += "\(content)</s>"
                insideTurn = false
            }
        }
        return out
    }

    /// Gemma has no system role: system text is folded into the next user turn;
    /// "assistant" is called "model".
    private func renderGemma(_ messages: [ChatMessage], addGenerationPrompt: Bool) -> String {
        var out = ""
        var pendingSystem = ""
        for message in messages {
            if message.role == "system" {
                pendingSystem += Self.trim(message.content)
                continue
            }
            let role = message.role == "assistant" ? "model" : message.role
            out += "<start_of_turn>\(role)\n"
            if !pendingSystem.isEmpty && role != "model" {
                out += pendingSystem + "\n\n"
                pendingSystem = ""
            }
            out += Self.trim(message.content) + "<end_of_turn>\n"
        }
        if addGenerationPrompt { out += "<start_of_turn>model\n" }
        return out
    }

    /// Trims ASCII whitespace (C `isspace`) from both ends, as llama.cpp's `trim` does.
    static func trim(_ text: String) -> String {
        let bytes = Array(text.utf8)
        func isSpace(_ b: UInt8) -> Bool { b == 0x20 || (0x09...0x0D).contains(b) }
        var start = 0
        var end = bytes.count
        while start < end && isSpace(bytes[start]) { start += 1 }
        while end > start && isSpace(bytes[end - 1]) { end -= 1 }
        return String(decoding: bytes[start..<end], as: UTF8.self)
    }
}
