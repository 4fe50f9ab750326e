import Foundation

/// Choosing a format from a model's `tokenizer.chat_template` Jinja text.
extension ChatTemplate {
    /// The format of a model's Jinja template, judged by the distinctive markers llama.cpp
    /// looks for (`llm_chat_detect_template`). A bare template name is accepted too.
    public static func detect(jinja source: String) throws -> ChatTemplate {
        if let named = ChatTemplate(rawValue: source) { return named }
        func has(_ marker: String) -> Bool { source.contains(marker) }
        if has("<|im_start|>") {
            if has("<|im_sep|>") { throw ChatTemplateError.unsupportedTemplate(name: "phi4") }
            if has("<end_of_utterance>") {
                throw ChatTemplateError.unsupportedTemplate(name: "smolvlm")
            }
            return .chatML
        }
        if source.hasPrefix("mistral") || has("[INST]") {
            if has("[SYSTEM_PROMPT]") { return .mistralV7 }
            if has("' [INST] ' + system_message") || has("[AVAILABLE_TOOLS]") {
                throw ChatTemplateError.unsupportedTemplate(name: "mistral-v1/v3")
            }
            if has("content.strip()") { return .llama2SystemStrip }
            if has("bos_token + '[INST]") { return .llama2SystemBOS }
            return has("<<SYS>>") ? .llama2System : .llama2
        }
        if has("<|assistant|>") && has("<|end|>") { return .phi3 }
        if has("[gMASK]<sop>") { throw ChatTemplateError.unsupportedTemplate(name: "chatglm4") }
        if has("<|assistant|>") && has("<|user|>") {
            throw ChatTemplateError.unsupportedTemplate(name: has("</s>") ? "falcon3" : "glmedge")
        }
        if has("<|user|>") && has("<|endoftext|>") { return .zephyr }
        if has("bos_token + message['role']") {
            throw ChatTemplateError.unsupportedTemplate(name: "monarch")
        }
        if has("<start_of_turn>") { return .gemma }
        if has("<|start_header_id|>") && has("<|end_header_id|>") { return .llama3 }
        throw ChatTemplateError.unknownTemplate(excerpt: String(source.prefix(60)))
    }

    /// The template for a model's `tokenizer.chat_template`. With `fallbackToChatML`, a
    /// missing or unrecognised template yields ChatML instead of an error.
    public static func resolve(jinja source: String?, fallbackToChatML: Bool = false) throws
        -> ChatTemplate
    {
        guard let source, !source.isEmpty else {
            if fallbackToChatML { return .chatML }
            throw ChatTemplateError.missingTemplate
        }
        do {
            return try detect(jinja: source)
        } catch  where fallbackToChatML {
            return .chatML
        }
    }

    /// The system prompt a ChatML Jinja template inserts when the conversation has none
    /// (SmolLM2: "{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\n...<|im_end|>\n' }}").
    /// Nil when the template has no such fixed text.
    public static func defaultSystemPrompt(inJinja source: String) -> String? {
        guard source.contains("!= 'system'") || source.contains("!= \"system\"") else { return nil }
        guard let open = source.range(of: "<|im_start|>system"),
            let close = source.range(of: "<|im_end|>", range: open.upperBound..<source.endIndex)
        else { return nil }
        var text = String(source[open.upperBound..<close.lowerBound])
        if text.hasPrefix("\n") {
            text.removeFirst()
        } else if text.hasPrefix("\\n") {
            text.removeFirst(2)
        } else {
            return nil
        }
        // Only literal text counts; anything built from expressions is not a fixed prompt.
        guard !text.isEmpty, !text.contains("{{"), !text.contains("{%"), !text.contains("'"),
            !text.contains("\"")
        else {
            return nil
        }
        return text.replacingOccurrences(of: "\\n", with: "\n")
    }
}
