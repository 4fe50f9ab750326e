extension Q3_KBlocks {
    /// ggml's reference Q3_K quantizer (quantize_row_q3_K_ref): per sub-block of 16 a signed
    /// scale from `refinedSymmetricScale`, the scales quantized to 6 bits against the one of
    /// largest magnitude, then every value re-quantized (-4...3) against the stored scales.
    public static func quantize(
        _ source: UnsafePointer<Float>, count: Int, into destination: UnsafeMutableRawPointer
    ) {
        var levels = [Int8](repeating: 0, count: blockSize)
        for block in 0..<(count / blockSize) {
            let x = source + block * blockSize
            let base = destination + block * blockBytes
            let (scales, maxScale, _) = KQuantSearch.subBlockScales(x, levels: &levels) {
                KQuantSearch.refinedSymmetricScale($0, count: 16, maxLevel: 4, levels: $1)
            }
            var packed = [UInt8](repeating: 0, count: 12)
            var superScale = halfBitsFromFloat(0)
            if maxScale != 0 {
                let inverse: Float = -32 / maxScale
                for sub in 0..<16 {
                    let rounded = Int8(
                        truncatingIfNeeded: KQuantSearch.nearestInt(inverse * scales[sub]))
                    let level = UInt8(
                        truncatingIfNeeded: KQuantSearch.clamp(Int32(rounded), -32, 31) + 32)
                    if sub < 8 {
                        packed[sub] = level & 0x0F
                    } else {
                        packed[sub - 8] |= (level & 0x0F) << 4
                    }
                    packed[8 + sub % 4] |= (level >> 4) << UInt8(2 * (sub / 4))
                }
                superScale = halfBitsFromFloat(1 / inverse)
            }
            packed.withUnsafeBytes { scalesBytes in
                let packedScales = scalesBytes.baseAddress!
                for sub in 0..<16 {
                    let scale =
                        floatFromHalfBits(superScale) * Float(subScale(packedScales, sub))
                    if scale == 0 { continue }
                    for index in 0..<16 {
                        let level = KQuantSearch.nearestInt(x[sub * 16 + index] / scale)
                        levels[sub * 16 + index] = Int8(KQuantSearch.clamp(level, -4, 3) + 4)
                    }
                }
            }
            // Third bits: element e's is bit e / 32 of hmask[e % 32]; the rest keeps 2 bits.
            var lowBits = [UInt8](repeating: 0, count: blockSize)
            var highMask = [UInt8](repeating: 0, count: 32)
            for element in 0..<blockSize {
                var level = UInt8(truncatingIfNeeded: levels[element])
                if level > 3 {
                    highMask[element % 32] |= 1 << UInt8(element / 32)
                    level -= 4
                }
                lowBits[element] = level
            }
            for index in 0..<32 {
                base.storeBytes(
                    of: highMask[index], toByteOffset: highMaskOffset + index, as: UInt8.self)
            }
            Q2_KBlocks.storeTwoBitQuants(lowBits, into: base + quantsOffset)
            for index in 0..<12 {
                base.storeBytes(
                    of: packed[index], toByteOffset: scalesOffset + index, as: UInt8.self)
            }
            base.storeBytes(of: superScale, toByteOffset: scaleOffset, as: UInt16.self)
        }
    }
}
