import CKernels
import Foundation
import GGUF

// Everything the integer block kernels touch per block lives in this one file on purpose:
// debug builds compile file by file (no whole-module optimization), and a generic or helper
// from another file is then neither specialized nor inlined — a call per 32 weights, 5x slower.

/// A half-precision scale at `offset` bytes past `base` (blocks are not aligned).
@inline(__always)
private func halfAt(_ base: UnsafeRawPointer, _ offset: Int) -> Float {
    Float(Float16(bitPattern: base.loadUnaligned(fromByteOffset: offset, as: UInt16.self)))
}

/// Dot products of quantized weight rows with Q8Activations, in integers per block and
/// floats across blocks. Generic over the weight format so each format gets its own
/// specialized loop. Used for decode-sized batches, where every weight byte is read once
/// per token and the cost is streaming the weights.
enum IntegerDotKernels {
    /// Bytes of Q8Activations values per block (32 Int16).
    static let activationBlockBytes = 64

    /// Types with an integer path.
    static func supports(_ type: GGMLType) -> Bool {
        type == .q4_0 || type == .q4_1 || type == .q8_0
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
        default:
            preconditionFailure("no integer path for \(type.name)")  // callers check supports(_:)
        }
    }

    /// Whether the native kernels (CKernels: pmaddubsw / vpdpbusd) run on this machine;
    /// `TESSERA_NATIVE_KERNELS=0` turns them off (to compare, or to rule them out).
    static let nativeLevel: Int =
        ProcessInfo.processInfo.environment["TESSERA_NATIVE_KERNELS"] == "0"
        ? 0 : Int(tessera_dot_level())

    /// The native kernels' rows × activations; false when they do not run here (then the
    /// Swift kernels below do the work). Which one runs is fixed per process, so a token's
    /// result never depends on the batch it is in.
    private static func native(
        type: GGMLType, weights: UnsafeRawPointer, rowBytes: Int, rows: Range<Int>,
        activations: Q8Activations, output: UnsafeMutablePointer<Float>, outputStride: Int
    ) -> Bool {
        guard nativeLevel > 0 else { return false }
        return tessera_dot_rows(
            Int32(type.rawValue), weights.assumingMemoryBound(to: UInt8.self), rowBytes,
            Int32(rows.lowerBound), Int32(rows.upperBound), activations.bytes,
            activations.scales, activations.scaledSums, Int32(activations.blocksPerRow),
            Int32(activations.tokenCount), output, outputStride) != 0
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
            let unpacked = Format.unpack(row + block * Format.blockBytes)
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
        for row in rows {
            let rowBase = weights + row * rowBytes
            var token = 0
            while token + 4 <= tokens {
                let results = dotRowFourTokens(
                    format, row: rowBase, activations: activations, firstToken: token)
                for index in 0..<4 {
                    output[(token + index) * outputStride + row] = results[index]
                }
                token += 4
            }
            while token < tokens {
                output[token * outputStride + row] = dotRow(
                    format, row: rowBase, activations: activations, token: token)
                token += 1
            }
        }
    }

    /// `dotRow` for tokens `firstToken..<firstToken + 4`: the same operations in the same
    /// order for each token, with the weight blocks unpacked once.
    @inline(__always)
    static func dotRowFourTokens<Format: IntegerDotFormat>(
        _ format: Format.Type, row: UnsafeRawPointer, activations: Q8Activations, firstToken: Int
    ) -> SIMD4<Float> {
        let blocks = activations.blocksPerRow
        var first0 = SIMD8<Float>()
        var second0 = SIMD8<Float>()
        var offsets0 = SIMD2<Float>()
        var first1 = SIMD8<Float>()
        var second1 = SIMD8<Float>()
        var offsets1 = SIMD2<Float>()
        var first2 = SIMD8<Float>()
        var second2 = SIMD8<Float>()
        var offsets2 = SIMD2<Float>()
        var first3 = SIMD8<Float>()
        var second3 = SIMD8<Float>()
        var offsets3 = SIMD2<Float>()
        @inline(__always)
        func pair(
            _ token: Int, _ a: UnpackedBlock, _ b: UnpackedBlock, _ block: Int,
            _ accumulatorA: inout SIMD8<Float>, _ accumulatorB: inout SIMD8<Float>,
            _ offsets: inout SIMD2<Float>
        ) {
            let scales = activations.scales + token &* blocks
            let scaledSums = activations.scaledSums + token &* blocks
            let values = activations.blockValues(token: token, block: 0)
            let partialA = blockPartialSums(format, a, values + block &* activationBlockBytes)
            let partialB = blockPartialSums(
                format, b, values + (block &+ 1) &* activationBlockBytes)
            accumulatorA = accumulatorA.addingProduct(partialA, a.scale * scales[block])
            accumulatorB = accumulatorB.addingProduct(partialB, b.scale * scales[block &+ 1])
            offsets = offsets.addingProduct(
                SIMD2(a.offset, b.offset), SIMD2(scaledSums[block], scaledSums[block &+ 1]))
        }
        @inline(__always)
        func single(
            _ token: Int, _ a: UnpackedBlock, _ block: Int, _ accumulator: inout SIMD8<Float>,
            _ offsets: inout SIMD2<Float>
        ) {
            let scales = activations.scales + token &* blocks
            let scaledSums = activations.scaledSums + token &* blocks
            let values = activations.blockValues(token: token, block: 0)
            let partial = blockPartialSums(format, a, values + block &* activationBlockBytes)
            accumulator = accumulator.addingProduct(partial, a.scale * scales[block])
            offsets[0] = offsets[0].addingProduct(a.offset, scaledSums[block])
        }
        var block = 0
        while block + 2 <= blocks {
            let a = Format.unpack(row + block &* Format.blockBytes)
            let b = Format.unpack(row + (block &+ 1) &* Format.blockBytes)
            pair(firstToken, a, b, block, &first0, &second0, &offsets0)
            pair(firstToken &+ 1, a, b, block, &first1, &second1, &offsets1)
            pair(firstToken &+ 2, a, b, block, &first2, &second2, &offsets2)
            pair(firstToken &+ 3, a, b, block, &first3, &second3, &offsets3)
            block &+= 2
        }
        if block < blocks {
            let a = Format.unpack(row + block &* Format.blockBytes)
            single(firstToken, a, block, &first0, &offsets0)
            single(firstToken &+ 1, a, block, &first1, &offsets1)
            single(firstToken &+ 2, a, block, &first2, &offsets2)
            single(firstToken &+ 3, a, block, &first3, &offsets3)
        }
        return SIMD4(
            (first0 + second0).sum() + offsets0.sum(), (first1 + second1).sum() + offsets1.sum(),
            (first2 + second2).sum() + offsets2.sum(), (first3 + second3).sum() + offsets3.sum())
    }

    @inline(__always)
    static func dotRow<Format: IntegerDotFormat>(
        _ format: Format.Type, row: UnsafeRawPointer, activations: Q8Activations, token: Int
    ) -> Float {
        let blocks = activations.blocksPerRow
        let scales = activations.scales + token * blocks
        let scaledSums = activations.scaledSums + token * blocks
        let values = activations.blockValues(token: token, block: 0)
        // Two independent accumulator chains: one chain would wait on the FMA latency every block.
        var accumulators = (SIMD8<Float>(), SIMD8<Float>())
        var offsets = SIMD2<Float>()
        var block = 0
        while block + 2 <= blocks {
            let first = Format.unpack(row + block &* Format.blockBytes)
            let second = Format.unpack(row + (block &+ 1) &* Format.blockBytes)
            let partialFirst = blockPartialSums(
                format, first, values + block &* activationBlockBytes)
            let partialSecond = blockPartialSums(
                format, second, values + (block &+ 1) &* activationBlockBytes)
            accumulators.0 = accumulators.0.addingProduct(partialFirst, first.scale * scales[block])
            accumulators.1 = accumulators.1.addingProduct(
                partialSecond, second.scale * scales[block &+ 1])
            offsets = offsets.addingProduct(
                SIMD2(first.offset, second.offset), SIMD2(scaledSums[block], scaledSums[block &+ 1])
            )
            block &+= 2
        }
        if block < blocks {
            let last = Format.unpack(row + block &* Format.blockBytes)
            let partial = blockPartialSums(format, last, values + block &* activationBlockBytes)
            accumulators.0 = accumulators.0.addingProduct(partial, last.scale * scales[block])
            offsets[0] = offsets[0].addingProduct(last.offset, scaledSums[block])
        }
        return (accumulators.0 + accumulators.1).sum() + offsets.sum()
    }
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
    /// Quants are 4-bit, so a 32-bit lane's two 16-bit product sums add up to less than 2^15.
    static var hasNibbleQuants: Bool { get }
    static func unpack(_ block: UnsafeRawPointer) -> UnpackedBlock
}

/// Splits 16 bytes of packed nibbles (element j low, j+16 high) into parity-ordered lanes.
@inline(__always)
private func unpackNibbles(_ packedBytes: UnsafeRawPointer) -> (
    even: SIMD16<Int16>, odd: SIMD16<Int16>
) {
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
        return UnpackedBlock(
            even: even, odd: odd, scale: halfAt(block, 0), offset: halfAt(block, 2))
    }
}

enum Q4_0Format: IntegerDotFormat {
    static let blockBytes = 18
    static let hasNibbleQuants = true
    @inline(__always)
    static func unpack(_ block: UnsafeRawPointer) -> UnpackedBlock {
        let (even, odd) = unpackNibbles(block + 2)
        let scale = halfAt(block, 0)
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
        return UnpackedBlock(
            even: (pairs &<< 8) &>> 8, odd: pairs &>> 8, scale: halfAt(block, 0), offset: 0)
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
