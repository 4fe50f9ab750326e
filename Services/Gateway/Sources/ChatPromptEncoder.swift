import Tokenization

/// Tokenizes a conversation so that only the chat template's own markers become control
/// tokens; message contents stay plain text.
///
/// The template is rendered with a placeholder for each content, so its text is known apart
/// from the contents. Control-token text is cut out of the template text only; the text
/// between two control tokens (template text and contents joined, as in one rendered
/// string) is tokenized without special parsing. For contents without control-token text
/// this gives exactly the ids of tokenizing the whole rendered string with special parsing
/// (the tokenizer cuts specials first and encodes the text between them the same way).
struct ChatPromptEncoder {
    struct Marker: Sendable {
        var bytes: [UInt8]
        var id: Int32
        var attributes: TokenAttributes
    }

    let tokenizer: Tokenizer
    let markers: [UInt8: [Marker]]

    /// The tokenizer's control and unknown tokens (those only special parsing recognises),
    /// by first byte, longest first.
    static func markers(of tokenizer: Tokenizer) -> [UInt8: [Marker]] {
        var markers: [UInt8: [Marker]] = [:]
        for id in 0..<Int32(tokenizer.vocabularySize) {
            guard let attributes = tokenizer.attributes(of: id),
                !attributes.isDisjoint(with: [.control, .unknown]),
                let text = tokenizer.tokenText(id), let first = text.utf8.first
            else { continue }
            markers[first, default: []].append(
                Marker(bytes: Array(text.utf8), id: id, attributes: attributes))
        }
        for key in markers.keys { markers[key]!.sort { $0.bytes.count > $1.bytes.count } }
        return markers
    }

    private enum Piece {
        case text([UInt8])
        case token(Int32, TokenAttributes)
    }

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
        var pieces: [Piece] = []
        var rest = Substring(rendered)
        for (index, message) in messages.enumerated() {
            guard let range = rest.range(of: placeholder(index)) else { continue }
            pieces += cutMarkers(Array(rest[..<range.lowerBound].utf8))
            pieces.append(.text(Array((trims ? Self.trim(message.content) : message.content).utf8)))
            rest = rest[range.upperBound...]
        }
        pieces += cutMarkers(Array(rest.utf8))
        return tokens(pieces)
    }

    /// Splits template text at control-token text (leftmost, longest first).
    private func cutMarkers(_ bytes: [UInt8]) -> [Piece] {
        var pieces: [Piece] = []
        var start = 0
        var index = 0
        while index < bytes.count {
            let match = markers[bytes[index]]?.first { marker in
                index + marker.bytes.count <= bytes.count
                    && bytes[index..<(index + marker.bytes.count)].elementsEqual(marker.bytes)
            }
            guard let match else {
                index += 1
                continue
            }
            if index > start { pieces.append(.text(Array(bytes[start..<index]))) }
            pieces.append(.token(match.id, match.attributes))
            index += match.bytes.count
            start = index
        }
        if start < bytes.count { pieces.append(.text(Array(bytes[start...]))) }
        return pieces
    }

    /// BOS, the text between control tokens tokenized as plain text, the control tokens,
    /// EOS if the model adds one: what `encode(_:addSpecial: true, parseSpecial: true)` does.
    private func tokens(_ pieces: [Piece]) -> [Int32] {
        var output: [Int32] = []
        if tokenizer.addsBOS, let bos = tokenizer.bosTokenID { output.append(bos) }
        var run: [UInt8] = []
        var stripLeading = false
        func flush(stripTrailing: Bool) {
            var bytes = run[...]
            if stripLeading { while let b = bytes.first, Self.isSpace(b) { bytes.removeFirst() } }
            if stripTrailing { while let b = bytes.last, Self.isSpace(b) { bytes.removeLast() } }
            if !bytes.isEmpty {
                output += tokenizer.encode(
                    String(decoding: bytes, as: UTF8.self), addBOS: false, parseSpecial: false)
            }
            run = []
            stripLeading = false
        }
        for piece in pieces {
            switch piece {
            case .text(let bytes): run += bytes
            case .token(let id, let attributes):
                flush(stripTrailing: attributes.contains(.leftStrip))
                output.append(id)
                stripLeading = attributes.contains(.rightStrip)
            }
        }
        flush(stripTrailing: false)
        if tokenizer.addsEOS, let eos = tokenizer.eosTokenID { output.append(eos) }
        return output
    }

    private static func isSpace(_ byte: UInt8) -> Bool {
        byte == 0x20 || (0x09...0x0D).contains(byte)
    }

    /// ASCII whitespace trimmed from both ends, as `ChatTemplate` (and llama.cpp) trim.
    static func trim(_ text: String) -> String {
        var bytes = Array(text.utf8)[...]
        while let b = bytes.first, isSpace(b) { bytes.removeFirst() }
        while let b = bytes.last, isSpace(b) { bytes.removeLast() }
        return String(decoding: bytes, as: UTF8.self)
    }
}
