import CKernels
import GGUF

/// K-quant weight rows (Q2_K, Q3_K, Q4_K, Q5_K, Q6_K) dotted with Q8KActivations in integers,
/// the way llama.cpp pairs these types with Q8_K activations.
///
/// A row is first unpacked into one planar form shared by the five types (`UnpackedKRow`):
/// an int8 quant per column, an int8 scale and min per 16 columns, a float d and dmin per
/// super-block, so that value = d · scale · q − dmin · min. It is unpacked once per call and
/// dotted with every token, so a token's result does not depend on the others. Per
/// super-block two exact integers, S = Σ_g scale_g · Σ_{i∈g} q_i·a_i and M = Σ_g min_g ·
/// bsum_g, then acc = fma(d·da, S, acc) and mins = fma(dmin·da, M, mins) in block order;
/// the result is acc − mins. Shared/CKernels/kquant_dot.c (AVX2) does exactly these float
/// operations, so the two give the same bits (NativeKQuantParityTests).
enum KQuantDotKernels {
    static func supports(_ type: GGMLType) -> Bool {
        switch type {
        case .q2_K, .q3_K, .q4_K, .q5_K, .q6_K: true
        default: false
        }
    }

    /// out[token * outputStride + row] = row · activations[token], for `rows` and every token.
    static func multiply(
        type: GGMLType, weights: UnsafeRawPointer, rowBytes: Int, columns: Int, rows: Range<Int>,
        activations: Q8KActivations, output: UnsafeMutablePointer<Float>, outputStride: Int
    ) {
        if IntegerDotKernels.nativeLevel > 0
            && tessera_kquant_dot_rows(
                Int32(type.rawValue), weights.assumingMemoryBound(to: UInt8.self), rowBytes,
                Int32(rows.lowerBound), Int32(rows.upperBound), Int32(columns),
                activations.values, activations.scales, activations.blockSums,
                Int32(activations.tokenCount), output, outputStride) != 0
        {
            return
        }
        multiplyInSwift(
            type: type, weights: weights, rowBytes: rowBytes, columns: columns, rows: rows,
            activations: activations, output: output, outputStride: outputStride)
    }

    /// The Swift kernel (used where the native one does not run, and as its test oracle).
    static func multiplyInSwift(
        type: GGMLType, weights: UnsafeRawPointer, rowBytes: Int, columns: Int, rows: Range<Int>,
        activations: Q8KActivations, output: UnsafeMutablePointer<Float>, outputStride: Int
    ) {
        let unpacked = UnpackedKRow(columns: columns)
        defer { unpacked.deallocate() }
        for row in rows {
            unpacked.unpack(type, weights + row * rowBytes)
            for token in 0..<activations.tokenCount {
                output[token * outputStride + row] = dot(unpacked, activations, token: token)
            }
        }
    }

    static func dot(_ row: UnpackedKRow, _ activations: Q8KActivations, token: Int) -> Float {
        let columns = row.columns
        let values = activations.values + token * columns
        let sums = activations.blockSums + token * columns / 16
        let scales = activations.scales + token * row.blocks
        var accumulator: Float = 0
        var minimums: Float = 0
        for block in 0..<row.blocks {
            var scaledSum: Int32 = 0
            var minimumSum: Int32 = 0
            for group in (block * 16)..<(block * 16 + 16) {
                // |q · a| ≤ 63 · 127 fits Int16; the 16 products are summed in Int32 (exact).
                let quants = SIMD16<Int16>(
                    truncatingIfNeeded: UnsafeRawPointer(row.quants + group * 16).loadUnaligned(
                        as: SIMD16<Int8>.self))
                let inputs = SIMD16<Int16>(
                    truncatingIfNeeded: UnsafeRawPointer(values + group * 16).loadUnaligned(
                        as: SIMD16<Int8>.self))
                let groupSum = SIMD16<Int32>(truncatingIfNeeded: quants &* inputs).wrappedSum()
                scaledSum &+= Int32(row.scales[group]) &* groupSum
                minimumSum &+= Int32(row.minimums[group]) &* Int32(sums[group])
            }
            accumulator = accumulator.addingProduct(
                row.superScales[block] * scales[block], Float(scaledSum))
            minimums = minimums.addingProduct(
                row.superMinimums[block] * scales[block], Float(minimumSum))
        }
        return accumulator - minimums
    }
}

/// One K-quant row in the planar form the integer kernels use: value = superScale[block] ·
/// scale[group] · quant − superMinimum[block] · minimum[group], with groups of 16 columns
/// (Q4_K/Q5_K's sub-blocks of 32 appear as two groups with the same scale and min).
struct UnpackedKRow {
    let columns: Int
    let blocks: Int
    let quants: UnsafeMutablePointer<Int8>
    let scales: UnsafeMutablePointer<Int8>
    let minimums: UnsafeMutablePointer<Int8>
    let superScales: UnsafeMutablePointer<Float>
    let superMinimums: UnsafeMutablePointer<Float>

    init(columns: Int) {
        self.columns = columns
        blocks = columns / 256
        quants = .allocate(capacity: columns)
        scales = .allocate(capacity: columns / 16)
        minimums = .allocate(capacity: columns / 16)
        superScales = .allocate(capacity: blocks)
        superMinimums = .allocate(capacity: blocks)
    }

    func deallocate() {
        quants.deallocate()
        scales.deallocate()
        minimums.deallocate()
        superScales.deallocate()
        superMinimums.deallocate()
    }

    /// Loops over 32 contiguous bytes with no data-dependent branches, as kquant_dot.c's,
    /// and every per-value helper in this file (see IntegerDotKernels.swift on why).
    func unpack(_ type: GGMLType, _ row: UnsafeRawPointer) {
        let blockBytes = type.blockBytes
        for block in 0..<blocks {
            let base = row + block * blockBytes
            let quantsOut = quants + block * 256
            let groups = block * 16
            var superMinimum: Float = 0
            switch type {
            case .q2_K:
                for group in 0..<16 {
                    let packed = base.load(fromByteOffset: group, as: UInt8.self)
                    scales[groups + group] = Int8(packed & 0x0F)
                    minimums[groups + group] = Int8(packed >> 4)
                }
                unpackTwoBits(base + Q2_KBlocks.quantsOffset, quantsOut)
                superScales[block] = loadHalf(base, Q2_KBlocks.scaleOffset)
                superMinimum = loadHalf(base, Q2_KBlocks.minOffset)
            case .q3_K:
                for group in 0..<16 {
                    scales[groups + group] = Int8(
                        Q3_KBlocks.subScale(base + Q3_KBlocks.scalesOffset, group))
                    minimums[groups + group] = 0
                }
                unpackTwoBits(base + Q3_KBlocks.quantsOffset, quantsOut)
                // A clear hmask bit means minus 4.
                for bit in 0..<8 {
                    for index in 0..<32 {
                        let mask = base.load(fromByteOffset: index, as: UInt8.self)
                        let high = Int8(truncatingIfNeeded: ((mask >> UInt8(bit)) & 1) << 2)
                        quantsOut[bit * 32 + index] = quantsOut[bit * 32 + index] &- 4 &+ high
                    }
                }
                superScales[block] = loadHalf(base, Q3_KBlocks.scaleOffset)
            case .q4_K, .q5_K:
                for sub in 0..<8 {
                    let (scale, minimum) = Q4_KBlocks.scaleAndMin(base + 4, sub)
                    for half in 0..<2 {
                        scales[groups + sub * 2 + half] = Int8(scale)
                        minimums[groups + sub * 2 + half] = Int8(minimum)
                    }
                }
                let nibbles = base + (type == .q4_K ? 16 : Q5_KBlocks.nibblesOffset)
                for pair in 0..<4 {
                    for index in 0..<32 {
                        let byte = nibbles.load(fromByteOffset: pair * 32 + index, as: UInt8.self)
                        quantsOut[pair * 64 + index] = Int8(truncatingIfNeeded: byte & 0x0F)
                        quantsOut[pair * 64 + 32 + index] = Int8(truncatingIfNeeded: byte >> 4)
                    }
                }
                if type == .q5_K {
                    for bit in 0..<8 {
                        for index in 0..<32 {
                            let high = base.load(
                                fromByteOffset: Q5_KBlocks.highBitsOffset + index, as: UInt8.self)
                            quantsOut[bit * 32 + index] |= Int8(
                                truncatingIfNeeded: ((high >> UInt8(bit)) & 1) << 4)
                        }
                    }
                }
                superScales[block] = loadHalf(base, 0)
                superMinimum = loadHalf(base, 2)
            default:  // .q6_K (callers check `supports`)
                for group in 0..<16 {
                    scales[groups + group] = base.load(
                        fromByteOffset: Q6_KBlocks.scalesOffset + group, as: Int8.self)
                    minimums[groups + group] = 0
                }
                for half in 0..<2 {
                    let low = base + half * 64
                    let high = base + 128 + half * 32
                    let out = quantsOut + half * 128
                    for index in 0..<32 {
                        let lowA = low.load(fromByteOffset: index, as: UInt8.self)
                        let lowB = low.load(fromByteOffset: index + 32, as: UInt8.self)
                        let bits = high.load(fromByteOffset: index, as: UInt8.self)
                        out[index] =
                            Int8(truncatingIfNeeded: (lowA & 0x0F) | ((bits & 3) << 4)) &- 32
                        out[index + 32] =
                            Int8(truncatingIfNeeded: (lowB & 0x0F) | (((bits >> 2) & 3) << 4)) &- 32
                        out[index + 64] =
                            Int8(truncatingIfNeeded: (lowA >> 4) | (((bits >> 4) & 3) << 4)) &- 32
                        out[index + 96] =
                            Int8(truncatingIfNeeded: (lowB >> 4) | (((bits >> 6) & 3) << 4)) &- 32
                    }
                }
                superScales[block] = loadHalf(base, Q6_KBlocks.scaleOffset)
            }
            superMinimums[block] = superMinimum
        }
    }

    /// The low two bits of the Q2_K / Q3_K layout: per half of 128, byte l holds values
    /// l, l+32, l+64 and l+96 in bit pairs 0-1, 2-3, 4-5, 6-7.
    @inline(__always)
    private func unpackTwoBits(_ packed: UnsafeRawPointer, _ out: UnsafeMutablePointer<Int8>) {
        for half in 0..<2 {
            for quarter in 0..<4 {
                for index in 0..<32 {
                    let byte = packed.load(fromByteOffset: half * 32 + index, as: UInt8.self)
                    out[half * 128 + quarter * 32 + index] = Int8(
                        truncatingIfNeeded: (byte >> UInt8(2 * quarter)) & 3)
                }
            }
        }
    }
}
