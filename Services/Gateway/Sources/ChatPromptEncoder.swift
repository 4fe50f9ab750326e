import Tokenization

/// Tokenizes a conversation so that only the chat template's own markers become control
/// tokens; message contents stay plain text.
///
/// The template is rendered with a placeholder for each content, so its text is known apart
/// from the contents; the tokenizer then parses special tokens in the template's text only
/// (`Tokenizer.encode(_: [TextSegment])`). For contents without control-token text this
/// gives exactly the ids of tokenizing the whole rendered string with special parsing.
struct ChatPromptEncoder {
    let tokenizer: Tokenizer

    func encode(
        _ messages: [ChatMessage], template: ChatTemplate, defaultSystemPrompt: String?
    ) -> [Int32] {
        var messages = messages
        if let defaultSystemPrompt, messages.first?.role != "system" {
            messages.insert(ChatMessage(role: "system", content: defaultSystemPrompt), at: 0)
        }
        // Placeholders: private-use characters no template writes; only template text and
        // placeholders are in the rendered string, never user text.
        let placeholder = { (index: Int) in "\u{F8FF}\(index)\u{F8FE}" }
        let rendered = template.render(
            messages.enumerated().map { ChatMessage(role: $1.role, content: placeholder($0)) },
            addGenerationPrompt: true)
        // Templates that trim contents do it to the placeholders (a no-op); trim here.
        let trims = [.llama3, .gemma, .llama2SystemStrip].contains(template)
        var segments: [TextSegment] = []
        var rest = Substring(rendered)
        for (index, message) in messages.enumerated() {
            guard let range = rest.range(of: placeholder(index)) else { continue }
            segments.append(TextSegment(String(rest[..<range.lowerBound]), parseSpecial: true))
            let content = trims ? Self.trim(message.content) : message.content
            segments.append(TextSegment(content, parseSpecial: false))
            rest = rest[range.upperBound...]
        }
        segments.append(TextSegment(String(rest), parseSpecial: true))
        return tokenizer.encode(segments, addSpecial: true)
    }

    /// ASCII whitespace trimmed from both ends, as `ChatTemplate` (and llama.cpp) trim.
    static func trim(_ text: String) -> String {
        var bytes = Array(text.utf8)[...]
        while let b = bytes.first, isSpace(b) { bytes.removeFirst() }
        while let b = bytes.last, isSpace(b) { bytes.removeLast() }
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func isSpace(_ byte: UInt8) -> Bool {
        byte == 0x20 || (0x09...0x0D).contains(byte)
    }
}
