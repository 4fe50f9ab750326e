/// A small deflate compressor (RFC 1951) for the chart's PNG: one block with the fixed Huffman
/// codes, and LZ77 matches found through hash chains. Charts are mostly flat colour, so long
/// back-references carry nearly all of the image (a 1200 × 610 chart drops from 2.2 MB of
/// stored blocks to 28 KB); a dynamic-Huffman block would save a little more and
/// is not worth its code here.
enum Deflate {
    static let windowSize = 32_768
    static let minimumMatch = 3
    static let maximumMatch = 258
    /// Candidates followed per position: enough for flat images, bounded for noisy ones.
    static let maximumChainSteps = 48

    /// The raw deflate stream (no zlib header) of `data`.
    static func compress(_ data: [UInt8]) -> [UInt8] {
        var writer = BitWriter()
        writer.write(bits: 1, count: 1)  // BFINAL: this is the only block
        writer.write(bits: 1, count: 2)  // BTYPE 01: fixed Huffman codes

        let hashSize = 1 << 15
        var head = [Int](repeating: -1, count: hashSize)
        var previous = [Int](repeating: -1, count: windowSize)
        func hash(_ position: Int) -> Int {
            let value =
                Int(data[position]) << 10 ^ Int(data[position + 1]) << 5 ^ Int(data[position + 2])
            return value & (hashSize - 1)
        }
        func insert(_ position: Int) {
            guard position + minimumMatch <= data.count else { return }
            let key = hash(position)
            previous[position & (windowSize - 1)] = head[key]
            head[key] = position
        }

        var position = 0
        while position < data.count {
            var bestLength = 0
            var bestDistance = 0
            if position + minimumMatch <= data.count {
                var candidate = head[hash(position)]
                var steps = 0
                let limit = min(maximumMatch, data.count - position)
                while candidate >= 0 && position - candidate <= windowSize
                    && steps < maximumChainSteps
                {
                    var length = 0
                    while length < limit && data[candidate + length] == data[position + length] {
                        length += 1
                    }
                    if length > bestLength {
                        bestLength = length
                        bestDistance = position - candidate
                        if length == limit { break }
                    }
                    let next = previous[candidate & (windowSize - 1)]
                    // The chain slot may have been reused by a newer position: stop there.
                    if next >= candidate { break }
                    candidate = next
                    steps += 1
                }
            }
            if bestLength >= minimumMatch {
                writeLength(bestLength, to: &writer)
                writeDistance(bestDistance, to: &writer)
                for offset in 0..<bestLength { insert(position + offset) }
                position += bestLength
            } else {
                writeLiteral(Int(data[position]), to: &writer)
                insert(position)
                position += 1
            }
        }
        writeLiteral(256, to: &writer)  // end of block
        return writer.finish()
    }

    // MARK: Fixed Huffman codes (RFC 1951, 3.2.6)

    /// Literal/length symbol `symbol` (0…287) in its fixed code.
    private static func writeLiteral(_ symbol: Int, to writer: inout BitWriter) {
        switch symbol {
        case 0...143: writer.writeHuffman(code: 0x30 + symbol, length: 8)
        case 144...255: writer.writeHuffman(code: 0x190 + symbol - 144, length: 9)
        case 256...279: writer.writeHuffman(code: symbol - 256, length: 7)
        default: writer.writeHuffman(code: 0xC0 + symbol - 280, length: 8)
        }
    }

    static let lengthBases: [Int] = [
        3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115,
        131, 163, 195, 227, 258,
    ]
    static let lengthExtraBits: [Int] = [
        0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0,
    ]
    static let distanceBases: [Int] = [
        1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537,
        2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577,
    ]
    static let distanceExtraBits: [Int] = [
        0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12,
        13, 13,
    ]

    /// The last table index whose base is at most `value`.
    private static func bucket(of value: Int, in bases: [Int]) -> Int {
        var index = bases.count - 1
        while bases[index] > value { index -= 1 }
        return index
    }

    private static func writeLength(_ length: Int, to writer: inout BitWriter) {
        let index = bucket(of: length, in: lengthBases)
        writeLiteral(257 + index, to: &writer)
        writer.write(bits: length - lengthBases[index], count: lengthExtraBits[index])
    }

    private static func writeDistance(_ distance: Int, to writer: inout BitWriter) {
        let index = bucket(of: distance, in: distanceBases)
        writer.writeHuffman(code: index, length: 5)
        writer.write(bits: distance - distanceBases[index], count: distanceExtraBits[index])
    }
}

/// Deflate's bit order: values fill each byte from its least significant bit; Huffman codes
/// go most significant bit first, extra bits least significant first.
private struct BitWriter {
    private(set) var bytes: [UInt8] = []
    private var buffer: UInt64 = 0
    private var filled = 0

    mutating func write(bits value: Int, count: Int) {
        guard count > 0 else { return }
        buffer |= UInt64(value) << UInt64(filled)
        filled += count
        while filled >= 8 {
            bytes.append(UInt8(buffer & 0xFF))
            buffer >>= 8
            filled -= 8
        }
    }

    mutating func writeHuffman(code: Int, length: Int) {
        var reversed = 0
        for bit in 0..<length where code & (1 << bit) != 0 {
            reversed |= 1 << (length - 1 - bit)
        }
        write(bits: reversed, count: length)
    }

    mutating func finish() -> [UInt8] {
        if filled > 0 { bytes.append(UInt8(buffer & 0xFF)) }
        buffer = 0
        filled = 0
        return bytes
    }
}
