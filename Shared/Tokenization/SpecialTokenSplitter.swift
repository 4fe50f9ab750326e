/// Cuts special tokens out of raw text before normal tokenization, as llama.cpp's
/// `tokenizer_st_partition` does: for each special token, longest first, every text fragment
/// is split at each occurrence. Control and unknown tokens are recognised only when asked to
/// parse special tokens; user-defined tokens always are.
enum TextFragment: Equatable {
    case text(Range<Int>)  // byte range of the input
    case token(Int32)
}

enum SpecialTokenSplitter {
    static func split(_ text: [UInt8], vocabulary: Vocabulary, parseSpecial: Bool) -> [TextFragment]
    {
        guard !text.isEmpty else { return [] }
        var fragments: [TextFragment] = [.text(0..<text.count)]
        text.withUnsafeBufferPointer { bytes in
            for id in vocabulary.specialTokensByLength {
                let attributes = vocabulary.attributes[Int(id)]
                if !parseSpecial && !attributes.isDisjoint(with: [.control, .unknown]) { continue }
                let needle = vocabulary.tokenBytes[Int(id)]
                guard !needle.isEmpty,
                    fragments.contains(where: {
                        if case .text(let r) = $0 { r.count >= needle.count } else { false }
                    })
                else { continue }
                var result: [TextFragment] = []
                result.reserveCapacity(fragments.count + 2)
                for fragment in fragments {
                    guard case .text(let range) = fragment else {
                        result.append(fragment)
                        continue
                    }
                    cut(
                        range, at: needle, token: id, attributes: attributes, in: bytes,
                        into: &result)
                }
                fragments = result
            }
        }
        return fragments
    }

    private static func cut(
        _ range: Range<Int>, at needle: [UInt8], token: Int32, attributes: TokenAttributes,
        in bytes: UnsafeBufferPointer<UInt8>, into result: inout [TextFragment]
    ) {
        var remaining = range
        while let match = find(needle, in: remaining, bytes: bytes) {
            var leftEnd = match
            if attributes.contains(.leftStrip) {
                while leftEnd > remaining.lowerBound && isASCIISpace(bytes[leftEnd - 1]) {
                    leftEnd -= 1
                }
            }
            if leftEnd > remaining.lowerBound {
                result.append(.text(remaining.lowerBound..<leftEnd))
            }
            result.append(.token(token))
            var rightStart = match + needle.count
            if attributes.contains(.rightStrip) {
                while rightStart < remaining.upperBound && isASCIISpace(bytes[rightStart]) {
                    rightStart += 1
                }
            }
            remaining = rightStart..<remaining.upperBound
            if remaining.isEmpty { return }
        }
        result.append(.text(remaining))
    }

    private static func find(
        _ needle: [UInt8], in range: Range<Int>, bytes: UnsafeBufferPointer<UInt8>
    ) -> Int? {
        guard range.count >= needle.count else { return nil }
        let first = needle[0]
        var index = range.lowerBound
        let last = range.upperBound - needle.count
        while index <= last {
            if bytes[index] == first {
                var matched = true
                for offset in 1..<needle.count where bytes[index + offset] != needle[offset] {
                    matched = false
                    break
                }
                if matched { return index }
            }
            index += 1
        }
        return nil
    }

    /// C `isspace` in the "C" locale.
    /// Applies the tokens' left and right strips to the text next to them: `split` does it
    /// within one text, this across texts cut apart (segments joined after splitting).
    static func stripAroundTokens(
        _ fragments: [TextFragment], in bytes: [UInt8], vocabulary: Vocabulary
    ) -> [TextFragment] {
        var result = fragments
        for index in result.indices {
            guard case .token(let id) = result[index] else { continue }
            let attributes = vocabulary.attributes[Int(id)]
            if attributes.contains(.leftStrip), index > 0, case .text(var range) = result[index - 1]
            {
                while !range.isEmpty && isASCIISpace(bytes[range.upperBound - 1]) {
                    range = range.lowerBound..<(range.upperBound - 1)
                }
                result[index - 1] = .text(range)
            }
            if attributes.contains(.rightStrip), index + 1 < result.count,
                case .text(var range) = result[index + 1]
            {
                while !range.isEmpty && isASCIISpace(bytes[range.lowerBound]) {
                    range = (range.lowerBound + 1)..<range.upperBound
                }
                result[index + 1] = .text(range)
            }
        }
        return result.filter { if case .text(let range) = $0 { !range.isEmpty } else { true } }
    }

    private static func isASCIISpace(_ byte: UInt8) -> Bool {
        byte == 0x20 || (0x09...0x0D).contains(byte)
    }
}
