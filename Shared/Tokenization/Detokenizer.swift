/// Token ids back to text, as llama.cpp's `token_to_piece` and `detokenize` do it.
extension Tokenizer {
    /// The bytes one token stands for. Control and unknown tokens render as their text only
    /// when `renderSpecial` is set, otherwise as nothing. Throws for ids outside the vocabulary.
    public func piece(for id: TokenID, renderSpecial: Bool = false) throws -> [UInt8] {
        guard vocabulary.contains(id) else { throw TokenizerError.invalidTokenID(Int(id)) }
        let attributes = vocabulary.attributes[Int(id)]
        let special: TokenAttributes = [.unknown, .control]
        if !renderSpecial && !attributes.isDisjoint(with: special) { return [] }
        let text = vocabulary.tokens[Int(id)]
        if !attributes.isDisjoint(with: special.union(.userDefined)) { return Array(text.utf8) }
        if attributes.contains(.normal) {
            switch vocabulary.model {
            case .bytePairEncoding: return ByteLevelMapping.decode(text)
            case .sentencePiece: return Self.unescapeSpaces(Array(text.utf8))
            }
        }
        if attributes.contains(.byte), let byte = Self.byteValue(of: text) { return [byte] }
        return []  // unused and undefined tokens render as nothing
    }

    /// All tokens' bytes joined, with llama.cpp's clean-ups: the SentencePiece prefix space
    /// is dropped from the first token (unless it follows BOS), and vocabularies that ask for
    /// it get the English punctuation spacing fixes. Invalid UTF-8 becomes U+FFFD.
    public func decode(_ ids: [TokenID], renderSpecial: Bool = false) throws -> String {
        String(decoding: try decodeBytes(ids, renderSpecial: renderSpecial), as: UTF8.self)
    }

    public func decodeBytes(_ ids: [TokenID], renderSpecial: Bool = false) throws -> [UInt8] {
        var bytes: [UInt8] = []
        var stripLeadingSpace = vocabulary.addSpacePrefix
        for id in ids {
            var piece = try piece(for: id, renderSpecial: renderSpecial)
            if stripLeadingSpace && piece.first == 0x20 { piece.removeFirst() }
            stripLeadingSpace = false
            bytes += piece
        }
        return vocabulary.cleanSpaces ? Self.cleanSpaces(bytes) : bytes
    }

    /// "<0x0A>" -> 0x0A
    static func byteValue(of text: String) -> UInt8? {
        let utf8 = Array(text.utf8)
        guard utf8.count == 6, utf8.starts(with: [0x3C, 0x30, 0x78]), utf8[5] == 0x3E else {
            return nil
        }
        return UInt8(String(decoding: utf8[3..<5], as: UTF8.self), radix: 16)
    }

    /// U+2581 (▁) back to a space.
    static func unescapeSpaces(_ bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var index = 0
        while index < bytes.count {
            if index + 2 < bytes.count && bytes[index] == 0xE2 && bytes[index + 1] == 0x96
                && bytes[index + 2] == 0x81
            {
                out.append(0x20)
                index += 3
            } else {
                out.append(bytes[index])
                index += 1
            }
        }
        return out
    }

    /// llama.cpp's three passes: " ?", " !", " .", " ," lose the space; " ' " loses both
    /// spaces; " 's", " 'm", " 're", " 've" lose the space (" 't", " 'd", " 'll" keep it).
    static func cleanSpaces(_ input: [UInt8]) -> [UInt8] {
        guard input.count > 1 else { return input }
        let space: UInt8 = 0x20
        let quote: UInt8 = 0x27
        var text = input
        var out: [UInt8] = [text[0]]
        for i in 1..<text.count {
            if text[i - 1] == space && [0x3F, 0x21, 0x2E, 0x2C].contains(text[i]) {
                out.removeLast()
            }
            out.append(text[i])
        }
        text = out
        out = [text[0]]
        var i = 1
        while i < text.count {
            let x = text[i]
            if x == quote && i + 1 < text.count && text[i - 1] == space && text[i + 1] == space {
                out.removeLast()
                out.append(x)
                text[i + 1] = 0  // llama.cpp blanks the skipped space in place; later checks see it
                i += 2
                continue
            }
            out.append(x)
            i += 1
        }
        text = out
        guard text.count > 1 else { return text }
        out = [text[0]]
        for i in 1..<text.count {
            let x = text[i]
            if text[i - 1] == space && x == quote && i + 1 < text.count {
                let x1 = text[i + 1]
                let x2: UInt8? = i + 2 < text.count ? text[i + 2] : nil
                let contraction =
                    x1 == 0x73 || x1 == 0x6D  // 's 'm
                    || (x1 == 0x72 && x2 == 0x65) || (x1 == 0x76 && x2 == 0x65)  // 're 've
                if contraction { out.removeLast() }
            }
            out.append(x)
        }
        return out
    }
}
