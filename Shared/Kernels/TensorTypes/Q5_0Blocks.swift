/// ggml Q5_0: blocks of 32 values, `{ f16 d; uint8 qh[4]; uint8 nibbles[16] }` (22 bytes).
/// Byte j of `nibbles` holds the low 4 bits of element j (low nibble) and of element j+16
/// (high nibble); bit i of the little-endian 32-bit `qh` is element i's fifth bit.
/// value = (q - 16) * d.
public enum Q5_0Blocks {
    public static let blockSize = 32
    public static let blockBytes = 22

    /// Element `index` (0..<16) and element `index + 16` of a block, as 0...31 (shared with Q5_1).
    @inline(__always)
    static func quantPair(_ highBits: UInt32, _ nibbles: UnsafeRawPointer, _ index: Int) -> (
        low: Int32, high: Int32
    ) {
        let byte = Int32(nibbles.load(fromByteOffset: index, as: UInt8.self))
        let fifthLow = Int32(truncatingIfNeeded: (highBits >> UInt32(index)) & 1) << 4
        let fifthHigh = Int32(truncatingIfNeeded: (highBits >> UInt32(index + 16)) & 1) << 4
        return ((byte & 0x0F) | fifthLow, (byte >> 4) | fifthHigh)
    }

    public static func dequantize(
        _ source: UnsafeRawPointer, count: Int, into destination: UnsafeMutablePointer<Float>
    ) {
        for block in 0..<(count / blockSize) {
            let base = source + block * blockBytes
            let scale = loadHalf(base, 0)
            let highBits = base.loadUnaligned(fromByteOffset: 2, as: UInt32.self)
            let out = destination + block * blockSize
            for index in 0..<16 {
                let (low, high) = quantPair(highBits, base + 6, index)
                out[index] = Float(low - 16) * scale
                out[index + 16] = Float(high - 16) * scale
            }
        }
    }

    /// ggml's reference quantizer: d = (value with the largest magnitude) / -16,
    /// q = min(31, trunc(x / d + 16.5)).
    public static func quantize(
        _ source: UnsafePointer<Float>, count: Int, into destination: UnsafeMutableRawPointer
    ) {
        for block in 0..<(count / blockSize) {
            let input = source + block * blockSize
            let base = destination + block * blockBytes
            let scale = KQuantSearch.signedMaximum(input, count: blockSize).value / -16
            let inverse: Float = scale != 0 ? 1 / scale : 0
            base.storeBytes(of: halfBitsFromFloat(scale), as: UInt16.self)
            var quants = [UInt8](repeating: 0, count: 32)
            for index in 0..<32 {
                quants[index] = truncatedNibble(input[index] * inverse + 16.5, upperBound: 31)
            }
            storeFiveBitQuants(quants, highBitsAt: base + 2, nibblesAt: base + 6)
        }
    }
}

/// Packs 32 five-bit quants the way Q5_0 and Q5_1 store them.
@inline(__always)
func storeFiveBitQuants(
    _ quants: [UInt8], highBitsAt highBits: UnsafeMutableRawPointer,
    nibblesAt nibbles: UnsafeMutableRawPointer
) {
    var fifthBits: UInt32 = 0
    for index in 0..<16 {
        let low = quants[index]
        let high = quants[index + 16]
        nibbles.storeBytes(
            of: (low & 0x0F) | ((high & 0x0F) << 4), toByteOffset: index, as: UInt8.self)
        fifthBits |= UInt32((low >> 4) & 1) << UInt32(index)
        fifthBits |= UInt32((high >> 4) & 1) << UInt32(index + 16)
    }
    highBits.storeBytes(of: fifthBits, as: UInt32.self)
}
