extension Q6_KBlocks {
    /// ggml's reference Q6_K quantizer (quantize_row_q6_K_ref): per sub-block of 16 a signed
    /// scale from `symmetricScale`, the scales quantized to int8 against the one of largest
    /// magnitude (-128), then every value re-quantized (-32...31) against the stored scales.
    public static func quantize(
        _ source: UnsafePointer<Float>, count: Int, into destination: UnsafeMutableRawPointer
    ) {
        var levels = [Int8](repeating: 0, count: blockSize)
        for block in 0..<(count / blockSize) {
            let x = source + block * blockSize
            let base = destination + block * blockBytes
            let (scales, maxScale, maxMagnitude) = KQuantSearch.subBlockScales(
                x, levels: &levels
            ) {
                KQuantSearch.symmetricScale($0, count: 16, maxLevel: 32, levels: $1)
            }
            if maxMagnitude < KQuantSearch.groupMaxEpsilon {
                base.initializeMemory(as: UInt8.self, repeating: 0, count: blockBytes)
                continue
            }
            let inverse: Float = -128 / maxScale
            let superScale = halfBitsFromFloat(1 / inverse)
            var subScales = [Int8](repeating: 0, count: 16)
            for sub in 0..<16 {
                subScales[sub] = Int8(
                    truncatingIfNeeded: min(127, KQuantSearch.nearestInt(inverse * scales[sub])))
            }
            for sub in 0..<16 {
                let scale = floatFromHalfBits(superScale) * Float(subScales[sub])
                if scale == 0 { continue }
                for index in 0..<16 {
                    let level = KQuantSearch.nearestInt(x[sub * 16 + index] / scale)
                    levels[sub * 16 + index] = Int8(KQuantSearch.clamp(level, -32, 31) + 32)
                }
            }
            // Per half of 128: ql[l] = q[l] | q[l+64] << 4, ql[l+32] = q[l+32] | q[l+96] << 4,
            // qh[l] = the top two bits of q[l], q[l+32], q[l+64], q[l+96].
            for half in 0..<2 {
                for index in 0..<32 {
                    let first = half * 128 + index
                    var quarter = SIMD4<UInt8>()
                    for part in 0..<4 {
                        quarter[part] = UInt8(truncatingIfNeeded: levels[first + part * 32])
                    }
                    base.storeBytes(
                        of: (quarter[0] & 0x0F) | ((quarter[2] & 0x0F) << 4),
                        toByteOffset: half * 64 + index, as: UInt8.self)
                    base.storeBytes(
                        of: (quarter[1] & 0x0F) | ((quarter[3] & 0x0F) << 4),
                        toByteOffset: half * 64 + 32 + index, as: UInt8.self)
                    let high =
                        (quarter[0] >> 4) | ((quarter[1] >> 4) << 2) | ((quarter[2] >> 4) << 4)
                        | ((quarter[3] >> 4) << 6)
                    base.storeBytes(of: high, toByteOffset: 128 + half * 32 + index, as: UInt8.self)
                }
            }
            for sub in 0..<16 {
                base.storeBytes(of: subScales[sub], toByteOffset: 192 + sub, as: Int8.self)
            }
            base.storeBytes(of: superScale, toByteOffset: 208, as: UInt16.self)
        }
    }
}
