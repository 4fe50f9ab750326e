import GGUF

// Everything the integer block kernels touch per block lives in this one file on purpose:
// debug builds compile file by file (no whole-module optimization), and a generic or helper
// from another file is then neither specialized nor inlined — a call per 32 weights, 5x slower.

/// A half-precision scale at `offset` bytes past `base` (blocks are not aligned).
///
/// `opaqueZero` is 0, but computed at run time (see `multiply`), and XORed into the bits: a
/// half loaded straight from memory is converted on x86 with a load that merges into (so
/// waits for) a register the compiler picks freely (vpinsrw), which in `dotRow` was an FMA
/// chain's, so each block waited for the previous one (1.8x slower). Through a general
/// register (xor, vmovd) the load merges into nothing.
@inline(__always)
private func halfAt(_ base: UnsafeRawPointer, _ offset: Int, _ opaqueZero: UInt16) -> Float {
    Float(
        Float16(
            bitPattern: base.loadUnaligned(fromByteOffset: offset, as: UInt16.self) ^ opaqueZero))
}

/// Dot products of quantized weight rows with Q8Activations, in integers per block and
/// floats across blocks. Generic over the weight format so each format gets its own
/// specialized loop. Used for decode-sized batches, where every weight byte is read once
/// per token and the cost is streaming the weights.
///
/// The Swift kernels below compute the native kernels' (Shared/CKernels/dot.c) bits: the
/// same exact integer sums per block, then the same float operations in the same order (see
/// `dotRow`). A replay on any CPU, with either kernels, reproduces a worker's results
/// exactly; NativeSwiftParityTests checks it bit for bit.
enum IntegerDotKernels {
    /// Bytes of Q8Activations values per block (32 Int16).
    static let activationBlockBytes = 64

    /// Types with an integer path.
    static func supports(_ type: GGMLType) -> Bool {
        type == .q4_0 || type == .q4_1 || type == .q8_0 || type == .q5_0 || type == .q5_1
    }

    /// Non-generic entry point (see the note at the top of the file): rows × activations for `type`.
    static func multiply(
        type: GGMLType, weights: UnsafeRawPointer, rowBytes: Int, rows: Range<Int>,
        activations: Q8Activations,
        output: UnsafeMutablePointer<Float>, outputStride: Int
    ) {
        if native(
            type: type, weights: weights, rowBytes: rowBytes, rows: rows,
            activations: activations, output: output, outputStride: outputStride)
        {
            return
        }
        switch type {
        case .q4_1:
            multiply(
                Q4_1Format.self, weights: weights, rowBytes: rowBytes, rows: rows,
                activations: activations,
                output: output, outputStride: outputStride)
        case .q4_0:
            multiply(
                Q4_0Format.self, weights: weights, rowBytes: rowBytes, rows: rows,
                activations: activations,
                output: output, outputStride: outputStride)
        case .q8_0:
            multiply(
                Q8_0Format.self, weights: weights, rowBytes: rowBytes, rows: rows,
                activations: activations,
                output: output, outputStride: outputStride)
        case .q5_0:
            multiply(
                Q5_0Format.self, weights: weights, rowBytes: rowBytes, rows: rows,
                activations: activations,
                output: output, outputStride: outputStride)
        case .q5_1:
            multiply(
                Q5_1Format.self, weights: weights, rowBytes: rowBytes, rows: rows,
                activations: activations,
                output: output, outputStride: outputStride)
        default:
            preconditionFailure("no integer path for \(type.name)")  // callers check supports(_:)
        }
    }

    /// Decodes a Q4_0/Q4_1/Q8_0 row into TileOrder; false for other types.
    static func decodeRowInTileOrder(
        _ type: GGMLType, _ row: UnsafeRawPointer, columns: Int,
        into destination: UnsafeMutablePointer<Float>
    ) -> Bool {
        switch type {
        case .q4_1: decodeInTileOrder(Q4_1Format.self, row, columns: columns, into: destination)
        case .q4_0: decodeInTileOrder(Q4_0Format.self, row, columns: columns, into: destination)
        case .q8_0: decodeInTileOrder(Q8_0Format.self, row, columns: columns, into: destination)
        default: return false
        }
        return true
    }

    @inline(__always)
    private static func decodeInTileOrder<Format: IntegerDotFormat>(
        _ format: Format.Type, _ row: UnsafeRawPointer, columns: Int,
        into destination: UnsafeMutablePointer<Float>
    ) {
        for block in 0..<(columns / 32) {
            let unpacked = Format.unpack(row + block * Format.blockBytes, 0)
            let even = unsafeBitCast(unpacked.even, to: SIMD8<Int32>.self)
            let odd = unsafeBitCast(unpacked.odd, to: SIMD8<Int32>.self)
            // Low 16-bit halves hold elements 4i (even) / 4i+1 (odd), high halves 4i+2 / 4i+3.
            let out = UnsafeMutableRawPointer(destination + block * 32)
            @inline(__always) func store(_ values: SIMD8<Int32>, group: Int) {
                let decoded = (exactFloats(values) * unpacked.scale) + unpacked.offset
                out.storeBytes(of: decoded, toByteOffset: group * 32, as: SIMD8<Float>.self)
            }
            store((even &<< 16) &>> 16, group: 0)
            store(even &>> 16, group: 1)
            store((odd &<< 16) &>> 16, group: 2)
            store(odd &>> 16, group: 3)
        }
    }

    /// out[token * outputStride + row] = row · activations[token], for `rows` and every token.
    /// Tokens go four at a time through `dotRowFourTokens`, which unpacks each weight block
    /// once for all four (a batch of sessions decoding together shares that work) and
    /// otherwise does, per token, exactly what `dotRow` does, so every token's result is
    /// bit-identical however many tokens share the call.
    static func multiply<Format: IntegerDotFormat>(
        _ format: Format.Type, weights: UnsafeRawPointer, rowBytes: Int, rows: Range<Int>,
        activations: Q8Activations, output: UnsafeMutablePointer<Float>, outputStride: Int
    ) {
        let tokens = activations.tokenCount
        // 0 (Q8Activations holds tokens × 64 bytes per block, so tokens < 2^48), but not a
        // constant the optimizer could fold into `halfAt`.
        let opaqueZero = UInt16(truncatingIfNeeded: tokens &>> 48)
        for row in rows {
            let rowBase = weights + row * rowBytes
            var token = 0
            while token + 4 <= tokens {
                let results = dotRowFourTokens(
                    format, row: rowBase, activations: activations, firstToken: token,
                    opaqueZero: opaqueZero)
                for index in 0..<4 {
                    output[(token + index) * outputStride + row] = results[index]
                }
                token += 4
            }
            while token < tokens {
                output[token * outputStride + row] = dotRow(
                    format, row: rowBase, activations: activations, token: token,
                    opaqueZero: opaqueZero)
                token += 1
            }
        }
    }

    /// `dotRow` for tokens `firstToken..<firstToken + 4`: the same operations in the same
    /// order for each token, with each weight block unpacked once. The four tokens' chains are
    /// independent, so they also hide each other's FMA latency.
    @inline(__always)
    static func dotRowFourTokens<Format: IntegerDotFormat>(
        _ format: Format.Type, row: UnsafeRawPointer, activations: Q8Activations, firstToken: Int,
        opaqueZero: UInt16
    ) -> SIMD4<Float> {
        let blocks = activations.blocksPerRow
        let scales0 = activations.scales + firstToken &* blocks
        let scales1 = scales0 + blocks
        let scales2 = scales1 + blocks
        let scales3 = scales2 + blocks
        let scaledSums0 = activations.scaledSums + firstToken &* blocks
        let scaledSums1 = scaledSums0 + blocks
        let scaledSums2 = scaledSums1 + blocks
        let scaledSums3 = scaledSums2 + blocks
        let tokenBytes = blocks &* activationBlockBytes
        let values0 = UnsafeRawPointer(activations.values) + firstToken &* tokenBytes
        let values1 = values0 + tokenBytes
        let values2 = values1 + tokenBytes
        let values3 = values2 + tokenBytes
        var accumulator0 = SIMD8<Float>()
        var accumulator1 = SIMD8<Float>()
        var accumulator2 = SIMD8<Float>()
        var accumulator3 = SIMD8<Float>()
        var offsets = SIMD4<Float>()
        for block in 0..<blocks {
            let weights = Format.unpack(row + block &* Format.blockBytes, opaqueZero)
            let valuesOffset = block &* activationBlockBytes
            @inline(__always)
            func accumulate(
                _ accumulator: inout SIMD8<Float>, _ values: UnsafeRawPointer,
                _ scales: UnsafeMutablePointer<Float>
            ) {
                let partial = blockPartialSums(format, weights, values + valuesOffset)
                accumulator = accumulator.addingProduct(partial, weights.scale * scales[block])
            }
            accumulate(&accumulator0, values0, scales0)
            accumulate(&accumulator1, values1, scales1)
            accumulate(&accumulator2, values2, scales2)
            accumulate(&accumulator3, values3, scales3)
            if Format.hasOffset {
                // Lane-wise, exactly the four tokens' scalar FMAs of `dotRow`.
                offsets = offsets.addingProduct(
                    SIMD4(repeating: weights.offset),
                    SIMD4(
                        scaledSums0[block], scaledSums1[block], scaledSums2[block],
                        scaledSums3[block]))
            }
        }
        let sums = SIMD4(
            nativeOrderSum(accumulator0), nativeOrderSum(accumulator1),
            nativeOrderSum(accumulator2), nativeOrderSum(accumulator3))
        return sums + offsets
    }

    /// One row · one token, with dot.c's float operations in dot.c's order, so the result
    /// has the native kernels' bits: per block the exact integer sums of elements 4i..<4i+4
    /// (lane i), converted to float and fused-multiply-added into ONE accumulator with the
    /// single-precision product d × activation scale; the offset terms (Q4_1's m, Q4_0's
    /// -8·d, times the activation block's scaled sum) fused-multiply-added into one scalar
    /// (dot.c's `offsets += x * y`, which clang contracts into an FMA; Q8_0 has none, and
    /// its offsets stay +0); then the accumulator's lanes summed as dot.c sums them, plus the
    /// offsets. The chains wait on the FMA latency every block, but splitting them would
    /// change the rounding.
    @inline(__always)
    static func dotRow<Format: IntegerDotFormat>(
        _ format: Format.Type, row: UnsafeRawPointer, activations: Q8Activations, token: Int,
        opaqueZero: UInt16
    ) -> Float {
        let blocks = activations.blocksPerRow
        let scales = activations.scales + token &* blocks
        let scaledSums = activations.scaledSums + token &* blocks
        let values = UnsafeRawPointer(activations.values) + token &* blocks &* activationBlockBytes
        var accumulator = SIMD8<Float>()
        var offsets: Float = 0
        for block in 0..<blocks {
            let weights = Format.unpack(row + block &* Format.blockBytes, opaqueZero)
            let partial = blockPartialSums(format, weights, values + block &* activationBlockBytes)
            accumulator = accumulator.addingProduct(partial, weights.scale * scales[block])
            if Format.hasOffset {
                offsets = offsets.addingProduct(weights.offset, scaledSums[block])
            }
        }
        return nativeOrderSum(accumulator) + offsets
    }
}

/// The eight lanes summed in dot.c's order: lane i + lane i+4, then (0 + 2) + (1 + 3).
/// (`SIMD.sum()` leaves its order unspecified.)
@inline(__always)
func nativeOrderSum(_ lanes: SIMD8<Float>) -> Float {
    let quarters = lanes.lowHalf + lanes.highHalf
    let halves = quarters.lowHalf + quarters.highHalf
    return halves[0] + halves[1]
}

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
    /// Quants are 4- or 5-bit, so a 32-bit lane's two 16-bit product sums add up to less than
    /// 2^15 (2 · 2 · 31 · 127 = 15748).
    static var hasNibbleQuants: Bool { get }
    /// Whether `offset` can be nonzero (Q8_0's is always 0, and dot.c adds no offset term).
    static var hasOffset: Bool { get }
    /// `opaqueZero`: see `halfAt`.
    static func unpack(_ block: UnsafeRawPointer, _ opaqueZero: UInt16) -> UnpackedBlock
}

/// Splits 16 bytes of packed nibbles (element j low, j+16 high) into parity-ordered lanes.
@inline(__always)
private func unpackNibbles(_ packedBytes: UnsafeRawPointer) -> (
    even: SIMD16<Int16>, odd: SIMD16<Int16>
) {
    let packed = packedBytes.loadUnaligned(as: SIMD8<UInt16>.self)
    // Lanes 0..<8 keep the low nibbles (elements 0..<16), lanes 8..<16 the high ones (16..<32).
    // Each half is computed on its own: from one 16-lane vector of both halves the compiler
    // built the odd lanes in an undefined lower half, another merge into a busy register.
    let even = SIMD16<UInt16>(lowHalf: packed & 0x000F, highHalf: (packed &>> 4) & 0x000F)
    let odd = SIMD16<UInt16>(lowHalf: (packed &>> 8) & 0x000F, highHalf: packed &>> 12)
    return (unsafeBitCast(even, to: SIMD16<Int16>.self), unsafeBitCast(odd, to: SIMD16<Int16>.self))
}

enum Q4_1Format: IntegerDotFormat {
    static let blockBytes = 20
    static let hasNibbleQuants = true
    static let hasOffset = true
    @inline(__always)
    static func unpack(_ block: UnsafeRawPointer, _ opaqueZero: UInt16) -> UnpackedBlock {
        let (even, odd) = unpackNibbles(block + 4)
        return UnpackedBlock(
            even: even, odd: odd, scale: halfAt(block, 0, opaqueZero),
            offset: halfAt(block, 2, opaqueZero))
    }
}

enum Q4_0Format: IntegerDotFormat {
    static let blockBytes = 18
    static let hasNibbleQuants = true
    static let hasOffset = true
    @inline(__always)
    static func unpack(_ block: UnsafeRawPointer, _ opaqueZero: UInt16) -> UnpackedBlock {
        let (even, odd) = unpackNibbles(block + 2)
        let scale = halfAt(block, 0, opaqueZero)
        // (q - 8) * d: the -8 folds into the offset term.
        return UnpackedBlock(even: even, odd: odd, scale: scale, offset: -8 * scale)
    }
}

/// Q5_0/Q5_1's fifth bits (bit e of the 32-bit `qh` for element e) added to the
/// parity-ordered nibbles.
@inline(__always)
private func unpackFiveBits(_ highBitsAt: UnsafeRawPointer, _ nibblesAt: UnsafeRawPointer) -> (
    even: SIMD16<Int16>, odd: SIMD16<Int16>
) {
    let (even, odd) = unpackNibbles(nibblesAt)
    let high = SIMD16<UInt32>(repeating: highBitsAt.loadUnaligned(as: UInt32.self))
    let evenShifts = SIMD16<UInt32>(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30)
    let evenBits = SIMD16<Int16>(truncatingIfNeeded: (high &>> evenShifts) & 1) &<< 4
    let oddBits = SIMD16<Int16>(truncatingIfNeeded: (high &>> (evenShifts &+ 1)) & 1) &<< 4
    return (even | evenBits, odd | oddBits)
}

enum Q5_0Format: IntegerDotFormat {
    static let blockBytes = 22
    static let hasNibbleQuants = true
    static let hasOffset = true
    @inline(__always)
    static func unpack(_ block: UnsafeRawPointer, _ opaqueZero: UInt16) -> UnpackedBlock {
        let (even, odd) = unpackFiveBits(block + 2, block + 6)
        let scale = halfAt(block, 0, opaqueZero)
        // (q - 16) * d: the -16 folds into the offset term, as Q4_0's -8.
        return UnpackedBlock(even: even, odd: odd, scale: scale, offset: -16 * scale)
    }
}

enum Q5_1Format: IntegerDotFormat {
    static let blockBytes = 24
    static let hasNibbleQuants = true
    static let hasOffset = true
    @inline(__always)
    static func unpack(_ block: UnsafeRawPointer, _ opaqueZero: UInt16) -> UnpackedBlock {
        let (even, odd) = unpackFiveBits(block + 4, block + 8)
        return UnpackedBlock(
            even: even, odd: odd, scale: halfAt(block, 0, opaqueZero),
            offset: halfAt(block, 2, opaqueZero))
    }
}

enum Q8_0Format: IntegerDotFormat {
    static let blockBytes = 34
    static let hasNibbleQuants = false
    static let hasOffset = false
    @inline(__always)
    static func unpack(_ block: UnsafeRawPointer, _ opaqueZero: UInt16) -> UnpackedBlock {
        let pairs = block.loadUnaligned(fromByteOffset: 2, as: SIMD16<Int16>.self)
        // Each 16-bit lane holds elements 2i (low byte) and 2i+1 (high byte); arithmetic shifts sign-extend.
        return UnpackedBlock(
            even: (pairs &<< 8) &>> 8, odd: pairs &>> 8, scale: halfAt(block, 0, opaqueZero),
            offset: 0)
    }
}

/// Σ over the block of weight × activation as eight partial float sums, lane i summing
/// elements 4i..<4i+4: the grouping of dot.c's int32 lanes (pmaddubsw + pmaddwd, or vpdpbusd),
/// so the same integers become floats. |products| ≤ 128·127, so the sum of an even and an odd
/// product still fits in Int16.
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
