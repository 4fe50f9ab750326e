/// The Llama 3 / Qwen 2 pre-tokenizer regex as a scanner, alternatives tried in regex order:
/// `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
/// with N = 3 (Llama 3) or 1 (Qwen 2).
struct Llama3WordScanner {
    let codepoints: UnsafeBufferPointer<UInt32>
    let flags: UnsafeBufferPointer<CodepointFlags>
    let maxDigits: Int

    func split(_ range: Range<Int>, into ends: inout [Int]) {
        let end = range.upperBound
        func flagsAt(_ index: Int) -> CodepointFlags { index < end ? flags[index] : [] }
        func isNewline(_ index: Int) -> Bool {
            index < end && (codepoints[index] == 0x0A || codepoints[index] == 0x0D)
        }
        var pos = range.lowerBound
        while pos < end {
            let codepoint = codepoints[pos]
            let current = flags[pos]
            if let length = contractionLength(at: pos, end: end) {
                pos += length
                ends.append(pos)
                continue
            }
            // [^\r\n\p{L}\p{N}]?\p{L}+ : one optional lead-in of any other kind, then letters.
            if !isNewline(pos) && !current.isNumber
                && (current.isLetter || flagsAt(pos + 1).isLetter)
            {
                pos += 1
                while flagsAt(pos).isLetter { pos += 1 }
                ends.append(pos)
                continue
            }
            if current.isNumber {
                var groupStart = pos
                while flagsAt(pos).isNumber {
                    pos += 1
                    if pos - groupStart >= maxDigits {
                        ends.append(pos)
                        groupStart = pos
                    }
                }
                if pos > groupStart { ends.append(pos) }
                continue
            }
            // A space at the end of the range still takes this branch (as in llama.cpp), alone.
            let lead = codepoint == 0x20 ? flagsAt(pos + 1) : current
            if !lead.isWhitespace && !lead.isLetter && !lead.isNumber {
                if codepoint == 0x20 { pos += 1 }
                while isOther(flagsAt(pos)) { pos += 1 }
                while isNewline(pos) { pos += 1 }
                ends.append(pos)
                continue
            }
            var spaces = 0
            var afterLastNewline = 0
            while flagsAt(pos + spaces).isWhitespace {
                if isNewline(pos + spaces) { afterLastNewline = pos + spaces + 1 }
                spaces += 1
            }
            if afterLastNewline > 0 {
                pos = afterLastNewline  // \s*[\r\n]+
            } else if spaces > 1 && pos + spaces < end {
                pos += spaces - 1  // \s+(?!\S)
            } else {
                pos += max(spaces, 1)
            }
            ends.append(pos)
        }
    }

    private func isOther(_ value: CodepointFlags) -> Bool {
        !value.isEmpty && !value.isWhitespace && !value.isLetter && !value.isNumber
    }

    /// Case-insensitive contractions; only ASCII letters can lower-case into the set.
    private func contractionLength(at pos: Int, end: Int) -> Int? {
        guard codepoints[pos] == 0x27, pos + 1 < end else { return nil }
        func lower(_ c: UInt32) -> UInt32 { (0x41...0x5A).contains(c) ? c + 0x20 : c }
        let next = lower(codepoints[pos + 1])
        switch next {
        case 0x73, 0x74, 0x6D, 0x64: return 2
        default: break
        }
        guard pos + 2 < end else { return nil }
        switch (next, lower(codepoints[pos + 2])) {
        case (0x72, 0x65), (0x76, 0x65), (0x6C, 0x6C): return 3
        default: return nil
        }
    }
}
