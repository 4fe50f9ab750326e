/// Byte-level BPE over one pre-tokenized word, as llama.cpp's BPE session does it: start from
/// one symbol per byte, repeatedly merge the adjacent pair with the lowest merge rank (ties to
/// the leftmost), then map each symbol to its token, falling back to per-byte tokens.
///
/// Every string that can occur as a symbol gets an integer "piece" id up front: vocabulary
/// tokens keep their token id, other merge operands and results get ids past the vocabulary.
/// Merging is then pure integer work.
struct BytePairEncoder: Sendable {
    private let vocabularyCount: Int32
    /// Piece id of the one-character symbol for each raw byte, or -1 when nothing knows it.
    private let pieceForByte: [Int32]
    /// (left piece << 32 | right piece) -> (rank << 32 | merged piece)
    private let merges: [UInt64: UInt64]
    /// Tokens that make up each raw byte when a symbol is not itself a token.
    private let fallbackForByte: [[Int32]]
    /// Raw-byte spelling of each token, for llama3-style "whole word is a token" shortcuts.
    private let wholeWords: ByteStringTable?

    init(vocabulary: Vocabulary, merges mergeStrings: [String]) {
        vocabularyCount = Int32(vocabulary.count)
        // Token texts keep their ids; any other string met in a merge gets the next free id.
        var pieceIDs = vocabulary.textToID
        var nextPiece = Int32(vocabulary.count)
        func piece(_ text: UnsafeBufferPointer<UInt8>) -> Int32 {
            let id = pieceIDs.insert(text, nextPiece)
            if id == nextPiece { nextPiece += 1 }
            return id
        }

        var table: [UInt64: UInt64] = [:]
        table.reserveCapacity(mergeStrings.count)
        var joined: [UInt8] = []
        for (rank, merge) in mergeStrings.enumerated() {
            var merge = merge
            merge.withUTF8 { utf8 in
                // llama.cpp splits at the first space after the first byte.
                guard utf8.count > 1, let space = utf8[1...].firstIndex(of: 0x20) else { return }
                let leftID = piece(UnsafeBufferPointer(rebasing: utf8[..<space]))
                let rightID = piece(UnsafeBufferPointer(rebasing: utf8[(space + 1)...]))
                let key =
                    UInt64(UInt32(bitPattern: leftID)) << 32 | UInt64(UInt32(bitPattern: rightID))
                guard table[key] == nil else { return }  // the first rank of a pair wins
                joined.removeAll(keepingCapacity: true)
                joined.append(contentsOf: utf8[..<space])
                joined.append(contentsOf: utf8[(space + 1)...])
                let merged = joined.withUnsafeBufferPointer { piece($0) }
                table[key] = UInt64(rank) << 32 | UInt64(UInt32(bitPattern: merged))
            }
        }
        merges = table

        var byteMapped: [Int32] = []
        var fallback: [[Int32]] = []
        for byte in 0...255 {
            let mapped = ByteLevelMapping.mappedUTF8(for: UInt8(byte))
            byteMapped.append(pieceIDs.value(for: mapped) ?? -1)
            fallback.append(mapped.compactMap { vocabulary.textToID.value(for: [$0]) })
        }
        pieceForByte = byteMapped
        fallbackForByte = fallback

        if vocabulary.ignoreMerges {
            var keys: [[UInt8]] = []
            var ids: [Int32] = []
            for (id, text) in vocabulary.tokens.enumerated() {
                guard let raw = ByteLevelMapping.strictDecode(text) else { continue }
                keys.append(raw)
                ids.append(Int32(id))
            }
            wholeWords = ByteStringTable(keys: keys, values: ids)
        } else {
            wholeWords = nil
        }
    }

    /// Reusable buffers so a long text does not allocate per word.
    struct Workspace {
        var piece: [Int32] = []
        var start: [Int32] = []
        var length: [Int32] = []
        var next: [Int32] = []
        var previous: [Int32] = []
        var queue = MergeQueue()
    }

    func encode(
        word: UnsafeBufferPointer<UInt8>, workspace w: inout Workspace, into output: inout [Int32]
    ) {
        guard !word.isEmpty else { return }
        if let wholeWords, let token = wholeWords.value(for: word) {
            output.append(token)
            return
        }
        let count = word.count
        w.piece.removeAll(keepingCapacity: true)
        w.start.removeAll(keepingCapacity: true)
        w.length.removeAll(keepingCapacity: true)
        w.next.removeAll(keepingCapacity: true)
        w.previous.removeAll(keepingCapacity: true)
        w.queue.removeAll()
        for index in 0..<count {
            w.piece.append(pieceForByte[Int(word[index])])
            w.start.append(Int32(index))
            w.length.append(1)
            w.next.append(index + 1 < count ? Int32(index + 1) : -1)
            w.previous.append(Int32(index - 1))
        }
        for index in 1..<max(count, 1) { queuePair(Int32(index - 1), Int32(index), &w) }

        while let candidate = w.queue.pop() {
            let left = Int(candidate.left)
            let right = Int(candidate.right)
            // Stale when either side has since merged into something else.
            guard w.length[left] > 0, w.length[right] > 0, w.next[left] == candidate.right,
                w.piece[left] == candidate.leftStamp, w.piece[right] == candidate.rightStamp
            else { continue }
            w.piece[left] = candidate.result
            w.length[left] += w.length[right]
            w.length[right] = 0
            w.next[left] = w.next[right]
            if w.next[right] >= 0 { w.previous[Int(w.next[right])] = Int32(left) }
            if w.previous[left] >= 0 { queuePair(w.previous[left], Int32(left), &w) }
            if w.next[left] >= 0 { queuePair(Int32(left), w.next[left], &w) }
        }

        var symbol: Int32 = 0
        while symbol >= 0 {
            let index = Int(symbol)
            let piece = w.piece[index]
            if piece >= 0 && piece < vocabularyCount {
                output.append(piece)
            } else {
                let first = Int(w.start[index])
                for offset in first..<(first + Int(w.length[index])) {
                    output.append(contentsOf: fallbackForByte[Int(word[offset])])
                }
            }
            symbol = w.next[index]
        }
    }

    @inline(__always)
    private func queuePair(_ left: Int32, _ right: Int32, _ w: inout Workspace) {
        let leftPiece = w.piece[Int(left)]
        let rightPiece = w.piece[Int(right)]
        guard leftPiece >= 0, rightPiece >= 0 else { return }
        let key =
            UInt64(UInt32(bitPattern: leftPiece)) << 32 | UInt64(UInt32(bitPattern: rightPiece))
        guard let entry = merges[key] else { return }
        // Ranks stay below 2^24, so the Float priority is exact.
        w.queue.push(
            MergeCandidate(
                priority: Float(entry >> 32), left: left, right: right, leftStamp: leftPiece,
                rightStamp: rightPiece,
                result: Int32(bitPattern: UInt32(truncatingIfNeeded: entry))))
    }
}
