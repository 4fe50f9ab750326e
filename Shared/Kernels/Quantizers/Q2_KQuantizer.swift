extension Q2_KBlocks {
    /// ggml's reference Q2_K quantizer (quantize_row_q2_K_ref): per sub-block of 16 a scale
    /// and min from `scaleAndMinimum` (weights |x|, absolute error), both quantized to 4 bits
    /// against the largest, then every value re-quantized against the stored scales.
    public static func quantize(
        _ source: UnsafePointer<Float>, count: Int, into destination: UnsafeMutableRawPointer
    ) {
        // A raw buffer, not an array: a tuple result passed through the array's generic
        // withUnsafeMutableBufferPointer cost a runtime metadata lookup per sub-block.
        let levels = UnsafeMutablePointer<UInt8>.allocate(capacity: blockSize)
        levels.initialize(repeating: 0, count: blockSize)
        defer { levels.deallocate() }
        var scratch = [UInt8](repeating: 0, count: 16)
        var weights = [Float](repeating: 0, count: 16)
        var scales = [Float](repeating: 0, count: 16)
        var minimums = [Float](repeating: 0, count: 16)
        for block in 0..<(count / blockSize) {
            let x = source + block * blockSize
            let base = destination + block * blockBytes
            var maxScale: Float = 0
            var maxMinimum: Float = 0
            for sub in 0..<16 {
                for index in 0..<16 { weights[index] = abs(x[sub * 16 + index]) }
                let fit = KQuantSearch.scaleAndMinimum(
                    x + sub * 16, count: 16, maxLevel: 3, weights: weights,
                    levels: levels + sub * 16, scratch: &scratch, rangeStart: -0.5,
                    rangeStep: 0.1, steps: 15, absoluteError: true)
                scales[sub] = fit.scale
                minimums[sub] = fit.negatedMinimum
                if fit.scale > maxScale { maxScale = fit.scale }
                if fit.negatedMinimum > maxMinimum { maxMinimum = fit.negatedMinimum }
            }
            var packed = [UInt8](repeating: 0, count: 16)
            if maxScale > 0 {
                let inverse: Float = 15 / maxScale
                for sub in 0..<16 {
                    packed[sub] = UInt8(
                        truncatingIfNeeded: KQuantSearch.nearestInt(inverse * scales[sub]))
                }
            }
            let superScale = halfBitsFromFloat(maxScale > 0 ? maxScale / 15 : 0)
            if maxMinimum > 0 {
                let inverse: Float = 15 / maxMinimum
                for sub in 0..<16 {
                    let level = KQuantSearch.nearestInt(inverse * minimums[sub])
                    packed[sub] |= UInt8(truncatingIfNeeded: level << 4)
                }
            }
            let superMin = halfBitsFromFloat(maxMinimum > 0 ? maxMinimum / 15 : 0)
            for sub in 0..<16 {
                let scale = floatFromHalfBits(superScale) * Float(packed[sub] & 0x0F)
                if scale == 0 { continue }
                let minimum = floatFromHalfBits(superMin) * Float(packed[sub] >> 4)
                for index in 0..<16 {
                    let level = KQuantSearch.nearestInt((x[sub * 16 + index] + minimum) / scale)
                    levels[sub * 16 + index] = UInt8(KQuantSearch.clamp(level, 0, 3))
                }
            }
            for sub in 0..<16 {
                base.storeBytes(of: packed[sub], toByteOffset: sub, as: UInt8.self)
            }
            storeTwoBitQuants(levels, into: base + quantsOffset)
            base.storeBytes(of: superScale, toByteOffset: scaleOffset, as: UInt16.self)
            base.storeBytes(of: superMin, toByteOffset: minOffset, as: UInt16.self)
        }
    }

    /// Packs the low 2 bits of 256 levels in the Q2_K / Q3_K layout.
    static func storeTwoBitQuants(
        _ levels: UnsafePointer<UInt8>, into quants: UnsafeMutableRawPointer
    ) {
        for half in 0..<2 {
            for index in 0..<32 {
                let first = half * 128 + index
                var byte: UInt8 = 0
                for quarter in 0..<4 {
                    byte |= (levels[first + quarter * 32] & 3) << UInt8(2 * quarter)
                }
                quants.storeBytes(of: byte, toByteOffset: half * 32 + index, as: UInt8.self)
            }
        }
    }
}
