/// One weight block unpacked for the integer dot product: the 32 quants as 16-bit lanes split
/// by parity (lane i of `even` is element 2i, of `odd` element 2i+1, the order Q8Activations
/// uses), and how to scale the integer sum: block = scale * Σ q·a + offset * Σ a.
struct UnpackedBlock {
    var even: SIMD16<Int16>
    var odd: SIMD16<Int16>
    var scale: Float
    var offset: Float
}

/// A ggml weight format whose blocks of 32 can be dotted with Q8Activations in integers.
protocol IntegerDotFormat {
    static var blockBytes: Int { get }
    /// Quants are 4-bit, so a 32-bit lane's two 16-bit product sums add up to less than 2^15.
    static var hasNibbleQuants: Bool { get }
    static func unpack(_ block: UnsafeRawPointer) -> UnpackedBlock
}

/// Splits 16 bytes of packed nibbles (element j low, j+16 high) into parity-ordered lanes.
@inline(__always)
private func unpackNibbles(_ packedBytes: UnsafeRawPointer) -> (even: SIMD16<Int16>, odd: SIMD16<Int16>) {
    let packed = packedBytes.loadUnaligned(as: SIMD8<UInt16>.self)
    // Lanes 0..<8 keep the low nibbles (elements 0..<16), lanes 8..<16 the high ones (16..<32).
    let both = SIMD16<UInt16>(lowHalf: packed, highHalf: packed &>> 4)
    let even = both & 0x000F
    let odd = (both &>> 8) & 0x000F
    return (unsafeBitCast(even, to: SIMD16<Int16>.self), unsafeBitCast(odd, to: SIMD16<Int16>.self))
}

enum Q4_1Format: IntegerDotFormat {
    static let blockBytes = 20
    static let hasNibbleQuants = true
    @inline(__always)
    static func unpack(_ block: UnsafeRawPointer) -> UnpackedBlock {
        let (even, odd) = unpackNibbles(block + 4)
        return UnpackedBlock(even: even, odd: odd, scale: loadHalf(block, 0), offset: loadHalf(block, 2))
    }
}

enum Q4_0Format: IntegerDotFormat {
    static let blockBytes = 18
    static let hasNibbleQuants = true
    @inline(__always)
    static func unpack(_ block: UnsafeRawPointer) -> UnpackedBlock {
        let (even, odd) = unpackNibbles(block + 2)
        let scale = loadHalf(block, 0)
        // (q - 8) * d: the -8 folds into the offset term.
        return UnpackedBlock(even: even, odd: odd, scale: scale, offset: -8 * scale)
    }
}

enum Q8_0Format: IntegerDotFormat {
    static let blockBytes = 34
    static let hasNibbleQuants = false
    @inline(__always)
    static func unpack(_ block: UnsafeRawPointer) -> UnpackedBlock {
        let pairs = block.loadUnaligned(fromByteOffset: 2, as: SIMD16<Int16>.self)
        // Each 16-bit lane holds elements 2i (low byte) and 2i+1 (high byte); arithmetic shifts sign-extend.
        return UnpackedBlock(even: (pairs &<< 8) &>> 8, odd: pairs &>> 8, scale: loadHalf(block, 0), offset: 0)
    }
}

/// Σ over the block of weight × activation as eight partial float sums.
/// |products| ≤ 128·127, so the sum of an even and an odd product still fits in Int16.
@inline(__always)
func blockPartialSums<Format: IntegerDotFormat>(
    _ format: Format.Type, _ weights: UnpackedBlock, _ activations: UnsafeRawPointer
) -> SIMD8<Float> {
    let even = activations.loadUnaligned(as: SIMD16<Int16>.self)
    let odd = activations.loadUnaligned(fromByteOffset: 32, as: SIMD16<Int16>.self)
    let products = unsafeBitCast(weights.even &* even &+ weights.odd &* odd, to: SIMD8<Int32>.self)
    if Format.hasNibbleQuants {
        // hi·2^16 + lo plus lo·2^16 puts hi + lo in the upper half (|hi + lo| ≤ 2·2·15·127 < 2^15),
        // one operation cheaper than sign-extending both halves.
        return exactFloats((products &+ (products &<< 16)) &>> 16)
    }
    // Sign-extend both 16-bit halves of each 32-bit lane and add them.
    return exactFloats(((products &<< 16) &>> 16) &+ (products &>> 16))
}

/// Int32 → Float for |x| < 2^22, exactly, in two plain vector operations: adding 1.5·2^23's
/// bit pattern places x in the mantissa. The generic SIMD conversion initializer is sometimes
/// left as an out-of-line call, which costs more than the whole block's arithmetic.
@inline(__always)
func exactFloats(_ values: SIMD8<Int32>) -> SIMD8<Float> {
    unsafeBitCast(values &+ 0x4B40_0000, to: SIMD8<Float>.self) - 12_582_912
}
