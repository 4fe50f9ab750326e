/// The GPT-2 pre-tokenizer regex as a scanner, alternatives tried in regex order:
/// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`.
/// Lookarounds see only the current range, exactly like llama.cpp's splitter.
struct GPT2WordScanner {
    let codepoints: UnsafeBufferPointer<UInt32>
    let flags: UnsafeBufferPointer<CodepointFlags>

    func split(_ range: Range<Int>, into ends: inout [Int]) {
        let end = range.upperBound
        // Outside the range a position has no flags, which stops every run.
        func flagsAt(_ index: Int) -> CodepointFlags { index < end ? flags[index] : [] }
        let space: UInt32 = 0x20
        var pos = range.lowerBound
        while pos < end {
            let codepoint = codepoints[pos]
            if let length = contractionLength(at: pos, end: end) {
                pos += length
                ends.append(pos)
                continue
            }
            let lead = codepoint == space ? flagsAt(pos + 1) : flags[pos]
            if lead.isLetter || lead.isNumber {
                let wantLetters = lead.isLetter
                if codepoint == space { pos += 1 }
                while wantLetters ? flagsAt(pos).isLetter : flagsAt(pos).isNumber { pos += 1 }
                ends.append(pos)
                continue
            }
            if isOther(lead) {
                if codepoint == space { pos += 1 }
                while isOther(flagsAt(pos)) { pos += 1 }
                ends.append(pos)
                continue
            }
            var spaces = 0
            while flagsAt(pos + spaces).isWhitespace { spaces += 1 }
            if spaces > 1 && pos + spaces < end {
                pos += spaces - 1  // \s+(?!\S): leave the last space to lead the next word
            } else {
                pos += max(spaces, 1)
            }
            ends.append(pos)
        }
    }

    /// `[^\s\p{L}\p{N}]`, and inside the range.
    private func isOther(_ value: CodepointFlags) -> Bool {
        !value.isEmpty && !value.isWhitespace && !value.isLetter && !value.isNumber
    }

    /// Case-sensitive English contractions after an apostrophe.
    private func contractionLength(at pos: Int, end: Int) -> Int? {
        guard codepoints[pos] == 0x27, pos + 1 < end else { return nil }
        switch codepoints[pos + 1] {
        case 0x73, 0x74, 0x6D, 0x64: return 2  // s t m d
        default: break
        }
        guard pos + 2 < end else { return nil }
        switch (codepoints[pos + 1], codepoints[pos + 2]) {
        case (0x72, 0x65), (0x76, 0x65), (0x6C, 0x6C): return 3  // re ve ll
        default: return nil
        }
    }
}
