/// SentencePiece-style BPE (GGUF model "llama": Llama 2, TinyLlama), as llama.cpp's SPM
/// session does it: start from UTF-8 characters, repeatedly merge the adjacent pair whose
/// concatenation is the highest-scoring vocabulary token (ties to the leftmost), and spell
/// leftover characters with byte tokens <0xXX>.
struct SentencePieceEncoder: Sendable {
    private let vocabulary: Vocabulary
    /// Token for each byte value: "<0xXX>", else the byte itself as text, else unknown.
    private let tokenForByte: [Int32?]

    init(vocabulary: Vocabulary) {
        self.vocabulary = vocabulary
        let hex = Array("0123456789ABCDEF".utf8)
        tokenForByte = (0...255).map { (byte: Int) -> Int32? in
            // <0xXX>
            let spelled: [UInt8] = [0x3C, 0x30, 0x78, hex[byte >> 4], hex[byte & 15], 0x3E]
            return vocabulary.textToID.value(for: spelled) ?? vocabulary.textToID.value(for: [
                UInt8(byte)
            ])
                ?? vocabulary.unknown
        }
    }

    /// `text` already has spaces escaped to U+2581 and any prefix space added.
    func encode(_ text: [UInt8], into output: inout [Int32]) {
        guard !text.isEmpty else { return }
        var start: [Int32] = []
        var length: [Int32] = []
        var offset = 0
        while offset < text.count {
            let size = min(utf8SequenceLength(text[offset]), text.count - offset)
            start.append(Int32(offset))
            length.append(Int32(size))
            offset += size
        }
        let count = start.count
        var next = (0..<count).map { Int32($0 + 1 < count ? $0 + 1 : -1) }
        var previous = (0..<count).map { Int32($0 - 1) }
        var queue = MergeQueue()

        text.withUnsafeBufferPointer { bytes in
            func queuePair(_ left: Int32, _ right: Int32) {
                let from = Int(start[Int(left)])
                let size = Int(length[Int(left)] + length[Int(right)])
                let slice = UnsafeBufferPointer(rebasing: bytes[from..<(from + size)])
                guard let token = vocabulary.textToID.value(for: slice) else { return }
                // Highest score first: negate it for the min-queue.
                queue.push(
                    MergeCandidate(
                        priority: -vocabulary.scores[Int(token)], left: left, right: right,
                        leftStamp: length[Int(left)], rightStamp: length[Int(right)],
                        result: Int32(size)))
            }
            for index in 1..<max(count, 1) { queuePair(Int32(index - 1), Int32(index)) }

            while let candidate = queue.pop() {
                let left = Int(candidate.left)
                let right = Int(candidate.right)
                guard length[left] > 0, length[right] > 0,
                    length[left] + length[right] == candidate.result
                else {
                    continue
                }
                length[left] += length[right]
                length[right] = 0
                next[left] = next[right]
                if next[right] >= 0 { previous[Int(next[right])] = Int32(left) }
                if previous[left] >= 0 { queuePair(previous[left], Int32(left)) }
                if next[left] >= 0 { queuePair(Int32(left), next[left]) }
            }

            var symbol: Int32 = 0
            while symbol >= 0 {
                let index = Int(symbol)
                let from = Int(start[index])
                let slice = UnsafeBufferPointer(rebasing: bytes[from..<(from + Int(length[index]))])
                if let token = vocabulary.textToID.value(for: slice) {
                    output.append(token)
                } else {
                    for byte in slice {
                        if let token = tokenForByte[Int(byte)] { output.append(token) }
                    }
                }
                symbol = next[index]
            }
        }
    }
}

/// Bytes in the UTF-8 sequence a lead byte starts (1 for stray continuation bytes), as
/// llama.cpp's `unicode_len_utf8` counts them.
func utf8SequenceLength(_ lead: UInt8) -> Int {
    switch lead >> 4 {
    case 0xC, 0xD: 2
    case 0xE: 3
    case 0xF: 4
    default: 1
    }
}
