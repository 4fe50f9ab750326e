import Tokenization

/// libFuzzer entry: the input, split at zero bytes, is a model's Jinja chat template followed
/// by role/content pairs. Detecting the format must answer or throw ChatTemplateError, and
/// every format must render any conversation without trapping. Built by scripts/fuzz.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzChatTemplate(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let parts = UnsafeBufferPointer(start: data, count: size)
        .split(separator: 0, omittingEmptySubsequences: false)
        .map { String(decoding: $0, as: UTF8.self) }
    guard let source = parts.first else { return 0 }
    _ = try? ChatTemplate.detect(jinja: source)
    _ = try? ChatTemplate.resolve(jinja: source, fallbackToChatML: true)
    _ = ChatTemplate.defaultSystemPrompt(inJinja: source)
    var messages: [ChatMessage] = []
    var index = 1
    while index + 1 < parts.count {
        messages.append(ChatMessage(role: parts[index], content: parts[index + 1]))
        index += 2
    }
    for template in ChatTemplate.allCases {
        for generationPrompt in [false, true] {
            _ = template.render(
                messages, addGenerationPrompt: generationPrompt, defaultSystemPrompt: "sys")
        }
    }
    return 0
}
