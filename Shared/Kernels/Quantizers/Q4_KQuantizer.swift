extension Q4_KBlocks {
    /// ggml's reference Q4_K quantizer (quantize_row_q4_K_ref); see `AsymmetricKQuantizer`.
    public static func quantize(
        _ source: UnsafePointer<Float>, count: Int, into destination: UnsafeMutableRawPointer
    ) {
        let levels = UnsafeMutablePointer<UInt8>.allocate(capacity: blockSize)
        defer { levels.deallocate() }
        for block in 0..<(count / blockSize) {
            let base = destination + block * blockBytes
            AsymmetricKQuantizer.quantizeSuperBlock(
                source + block * blockSize, maxLevel: 15, rangeStart: -1, steps: 20, header: base,
                levels: levels)
            // Each 32 bytes hold two sub-blocks: the first in the low nibbles.
            for pair in 0..<4 {
                for index in 0..<32 {
                    let low = levels[pair * 64 + index]
                    let high = levels[pair * 64 + 32 + index]
                    base.storeBytes(
                        of: low | (high << 4), toByteOffset: 16 + pair * 32 + index, as: UInt8.self)
                }
            }
        }
    }
}

extension Q5_KBlocks {
    /// ggml's reference Q5_K quantizer (quantize_row_q5_K_ref); see `AsymmetricKQuantizer`.
    public static func quantize(
        _ source: UnsafePointer<Float>, count: Int, into destination: UnsafeMutableRawPointer
    ) {
        let levels = UnsafeMutablePointer<UInt8>.allocate(capacity: blockSize)
        defer { levels.deallocate() }
        for block in 0..<(count / blockSize) {
            let base = destination + block * blockBytes
            AsymmetricKQuantizer.quantizeSuperBlock(
                source + block * blockSize, maxLevel: 31, rangeStart: -0.5, steps: 15, header: base,
                levels: levels)
            var highBits = [UInt8](repeating: 0, count: 32)
            for pair in 0..<4 {
                for index in 0..<32 {
                    let low = levels[pair * 64 + index]
                    let high = levels[pair * 64 + 32 + index]
                    if low > 15 { highBits[index] |= 1 << UInt8(2 * pair) }
                    if high > 15 { highBits[index] |= 2 << UInt8(2 * pair) }
                    base.storeBytes(
                        of: (low & 0x0F) | ((high & 0x0F) << 4),
                        toByteOffset: nibblesOffset + pair * 32 + index, as: UInt8.self)
                }
            }
            for index in 0..<32 {
                base.storeBytes(
                    of: highBits[index], toByteOffset: highBitsOffset + index, as: UInt8.self)
            }
        }
    }
}

/// The part Q4_K and Q5_K share (ggml's quantize_row_q4_K_ref / q5_K_ref): per sub-block of
/// 32 a scale and min from `scaleAndMinimum` (weights rms(x) + |x|, squared error), both
/// quantized to 6 bits against the largest and packed as Q4_K packs them, then every value
/// re-quantized against the stored ones.
enum AsymmetricKQuantizer {
    /// Writes d, dmin and the 12 packed scale bytes at `header`, and the 256 levels.
    static func quantizeSuperBlock(
        _ x: UnsafePointer<Float>, maxLevel: Int32, rangeStart: Float, steps: Int,
        header: UnsafeMutableRawPointer, levels: UnsafeMutablePointer<UInt8>
    ) {
        var scratch = [UInt8](repeating: 0, count: 32)
        var weights = [Float](repeating: 0, count: 32)
        var scales = [Float](repeating: 0, count: 8)
        var minimums = [Float](repeating: 0, count: 8)
        var maxScale: Float = 0
        var maxMinimum: Float = 0
        for sub in 0..<8 {
            let values = x + sub * 32
            var sumSquares: Float = 0
            for index in 0..<32 { sumSquares += values[index] * values[index] }
            let rms = (sumSquares / 32).squareRoot()
            for index in 0..<32 { weights[index] = rms + abs(values[index]) }
            let fit = KQuantSearch.scaleAndMinimum(
                values, count: 32, maxLevel: maxLevel, weights: weights,
                levels: levels + sub * 32, scratch: &scratch, rangeStart: rangeStart,
                rangeStep: 0.1, steps: steps, absoluteError: false)
            scales[sub] = fit.scale
            minimums[sub] = fit.negatedMinimum
            if fit.scale > maxScale { maxScale = fit.scale }
            if fit.negatedMinimum > maxMinimum { maxMinimum = fit.negatedMinimum }
        }
        let inverseScale: Float = maxScale > 0 ? 63 / maxScale : 0
        let inverseMinimum: Float = maxMinimum > 0 ? 63 / maxMinimum : 0
        var packed = [UInt8](repeating: 0, count: 12)
        for sub in 0..<8 {
            let scale = min(
                63, UInt8(truncatingIfNeeded: KQuantSearch.nearestInt(inverseScale * scales[sub])))
            let minimum = min(
                63,
                UInt8(truncatingIfNeeded: KQuantSearch.nearestInt(inverseMinimum * minimums[sub])))
            if sub < 4 {
                packed[sub] = scale
                packed[sub + 4] = minimum
            } else {
                packed[sub + 4] = (scale & 0x0F) | ((minimum & 0x0F) << 4)
                packed[sub - 4] |= (scale >> 4) << 6
                packed[sub] |= (minimum >> 4) << 6
            }
        }
        let superScale = halfBitsFromFloat(maxScale / 63)
        let superMin = halfBitsFromFloat(maxMinimum / 63)
        header.storeBytes(of: superScale, as: UInt16.self)
        header.storeBytes(of: superMin, toByteOffset: 2, as: UInt16.self)
        for index in 0..<12 {
            header.storeBytes(of: packed[index], toByteOffset: 4 + index, as: UInt8.self)
        }
        for sub in 0..<8 {
            let (scaleBits, minBits) = Q4_KBlocks.scaleAndMin(header + 4, sub)
            let scale = floatFromHalfBits(superScale) * Float(scaleBits)
            if scale == 0 { continue }
            let minimum = floatFromHalfBits(superMin) * Float(minBits)
            for index in 0..<32 {
                let level = KQuantSearch.nearestInt((x[sub * 32 + index] + minimum) / scale)
                levels[sub * 32 + index] = UInt8(KQuantSearch.clamp(level, 0, maxLevel))
            }
        }
    }
}
