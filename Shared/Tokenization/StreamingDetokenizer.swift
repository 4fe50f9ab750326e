/// Turns a stream of generated token ids into text that is only ever emitted as complete
/// UTF-8: bytes of a character split across tokens are held back until it is whole, so an
/// emoji or CJK character never comes out as U+FFFD halves. Bytes that can never become
/// valid UTF-8 are emitted as U+FFFD once that is certain.
///
/// Like llama.cpp's per-token `token_to_piece`, it does not apply the clean-space rules of
/// `decode`, but it does drop the SentencePiece prefix space of the first token.
public struct StreamingDetokenizer: Sendable {
    public let tokenizer: Tokenizer
    public let renderSpecial: Bool
    private var pending: [UInt8] = []
    private var isFirstToken = true

    /// `stripLeadingSpace`: drop the prefix space of the first token (for a stream that starts
    /// the text; pass false when continuing after a prompt).
    public init(tokenizer: Tokenizer, renderSpecial: Bool = false, stripLeadingSpace: Bool = true) {
        self.tokenizer = tokenizer
        self.renderSpecial = renderSpecial
        isFirstToken = stripLeadingSpace
    }

    /// The text that became complete with this token (often empty mid-character).
    public mutating func append(_ id: TokenID) throws -> String {
        var piece = try tokenizer.piece(for: id, renderSpecial: renderSpecial)
        if isFirstToken && tokenizer.vocabulary.addSpacePrefix && piece.first == 0x20 {
            piece.removeFirst()
        }
        isFirstToken = false
        pending += piece
        let complete = Self.completePrefixLength(pending)
        guard complete > 0 else { return "" }
        let text = String(decoding: pending[0..<complete], as: UTF8.self)
        pending.removeFirst(complete)
        return text
    }

    /// Whatever is still held back (an unfinished character becomes U+FFFD).
    public mutating func finish() -> String {
        defer { pending.removeAll() }
        return String(decoding: pending, as: UTF8.self)
    }

    /// Bytes held back waiting for the rest of a character.
    public var pendingByteCount: Int { pending.count }

    /// Length of the longest prefix that does not end inside a character that could still be
    /// completed by more bytes.
    static func completePrefixLength(_ bytes: [UInt8]) -> Int {
        // A character is at most 4 bytes, so only the last 3 can be an unfinished sequence.
        var index = bytes.count - 1
        let lowest = max(0, bytes.count - 3)
        while index >= lowest {
            let byte = bytes[index]
            if byte & 0xC0 != 0x80 {  // a lead byte (or ASCII)
                let needed = utf8SequenceLength(byte)
                let available = bytes.count - index
                if needed > available && isValidPrefix(bytes[index...]) { return index }
                return bytes.count
            }
            index -= 1
        }
        return bytes.count
    }

    /// Whether these bytes could still grow into a valid character (checks the second-byte
    /// ranges that UTF-8 restricts, e.g. no surrogates or overlongs).
    private static func isValidPrefix(_ bytes: ArraySlice<UInt8>) -> Bool {
        let lead = bytes[bytes.startIndex]
        guard (0xC2...0xF4).contains(lead) else { return false }
        for byte in bytes.dropFirst() where byte & 0xC0 != 0x80 { return false }
        guard bytes.count >= 2 else { return true }
        let second = bytes[bytes.startIndex + 1]
        switch lead {
        case 0xE0: return second >= 0xA0
        case 0xED: return second <= 0x9F
        case 0xF0: return second >= 0x90
        case 0xF4: return second <= 0x8F
        default: return true
        }
    }
}
