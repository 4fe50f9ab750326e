/// A piece of a text to tokenize, and whether special-token text in it may become those
/// tokens: a chat template's own markers may, a user's message may not.
public struct TextSegment: Sendable, Equatable {
    public var text: String
    public var parseSpecial: Bool

    public init(_ text: String, parseSpecial: Bool) {
        self.text = text
        self.parseSpecial = parseSpecial
    }
}

extension Tokenizer {
    /// Tokenizes segments as one text. Control tokens are cut out only of the segments that
    /// allow it; the text between two tokens is tokenized as one run whatever segments it
    /// spans, so segments free of special-token text give exactly the ids of the joined
    /// string. So "<|im_start|>" written in an untrusted segment stays those characters.
    public func encode(_ segments: [TextSegment], addSpecial: Bool = true) -> [TokenID] {
        var bytes: [UInt8] = []
        var fragments: [TextFragment] = []
        for segment in segments {
            let segmentBytes = Array(segment.text.utf8)
            let base = bytes.count
            bytes += segmentBytes
            for fragment in SpecialTokenSplitter.split(
                segmentBytes, vocabulary: vocabulary, parseSpecial: segment.parseSpecial)
            {
                switch fragment {
                case .token: fragments.append(fragment)
                case .text(let range):
                    let shifted = (range.lowerBound + base)..<(range.upperBound + base)
                    // Joins text that runs on from the segment before into one run.
                    if case .text(let last)? = fragments.last, last.upperBound == shifted.lowerBound
                    {
                        fragments[fragments.count - 1] = .text(last.lowerBound..<shifted.upperBound)
                    } else {
                        fragments.append(.text(shifted))
                    }
                }
            }
        }
        return encode(
            bytes,
            fragments: SpecialTokenSplitter.stripAroundTokens(
                fragments, in: bytes, vocabulary: vocabulary),
            bos: addSpecial && vocabulary.addBOS, eos: addSpecial && vocabulary.addEOS)
    }
}
