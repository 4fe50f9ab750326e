/// The scale searches of ggml's reference K-quantizers (make_qx_quants, make_q3_quants and
/// make_qkx2_quants in ggml-quants.c, without an importance matrix), written from their
/// definitions so that Tessera's quantizers produce ggml's bytes exactly.
///
/// Bit-identity rests on doing the same single-precision operations in the same order:
/// every sum is accumulated left to right, products are grouped as ggml writes them
/// (`w * x * l` is `(w * x) * l`), and nothing is fused (Swift never contracts a * b + c;
/// ggml's reference code is built without FMA). Integer conversions truncate like C's
/// implicit ones, so odd input (NaN, infinities) gives odd bytes but never traps.
enum KQuantSearch {
    /// ggml's GROUP_MAX_EPS: groups whose largest magnitude is below it count as all zero.
    static let groupMaxEpsilon: Float = 1e-15

    /// ggml's nearest_int: rounds to nearest, ties to even, through the float's mantissa
    /// (exact for |value| < 2^22, which scaled quants always are).
    @inline(__always)
    static func nearestInt(_ value: Float) -> Int32 {
        let shifted = value + 12_582_912
        let bits = Int32(bitPattern: shifted.bitPattern)
        return (bits & 0x007F_FFFF) - 0x0040_0000
    }

    @inline(__always)
    static func clamp(_ value: Int32, _ lower: Int32, _ upper: Int32) -> Int32 {
        max(lower, min(upper, value))
    }

    /// The signed value with the largest magnitude (the first one on ties) and that magnitude.
    @inline(__always)
    static func signedMaximum(_ x: UnsafePointer<Float>, count: Int) -> (
        value: Float, magnitude: Float
    ) {
        var value: Float = 0
        var magnitude: Float = 0
        for index in 0..<count {
            let candidate = abs(x[index])
            if candidate > magnitude {
                magnitude = candidate
                value = x[index]
            }
        }
        return (value, magnitude)
    }

    /// The 16 sub-block scales of a super-block, found by `search` (which also fills the
    /// sub-block's 16 `levels`), and the one of largest magnitude (the first on ties), as
    /// Q3_K and Q6_K pick the super-block scale.
    static func subBlockScales(
        _ x: UnsafePointer<Float>, levels: inout [Int8],
        search: (UnsafePointer<Float>, UnsafeMutablePointer<Int8>) -> Float
    ) -> (scales: [Float], largest: Float, magnitude: Float) {
        var scales = [Float](repeating: 0, count: 16)
        var largest: Float = 0
        var magnitude: Float = 0
        levels.withUnsafeMutableBufferPointer { buffer in
            for sub in 0..<16 {
                let scale = search(x + sub * 16, buffer.baseAddress! + sub * 16)
                scales[sub] = scale
                if abs(scale) > magnitude {
                    magnitude = abs(scale)
                    largest = scale
                }
            }
        }
        return (scales, largest, magnitude)
    }

    /// make_qx_quants with rmse_type 1 (weights x²) and no importance matrix, as Q6_K uses it:
    /// symmetric quants in -nmax..<nmax, stored + nmax in `levels`; returns the scale.
    static func symmetricScale(
        _ x: UnsafePointer<Float>, count: Int, maxLevel nmax: Int32,
        levels: UnsafeMutablePointer<Int8>
    ) -> Float {
        let (maximum, magnitude) = signedMaximum(x, count: count)
        if magnitude < groupMaxEpsilon {
            levels.update(repeating: 0, count: count)
            return 0
        }
        let levelCount = Float(nmax)
        var inverseScale = Float(-nmax) / maximum
        var sumLX: Float = 0
        var sumL2: Float = 0
        for index in 0..<count {
            let level = clamp(nearestInt(inverseScale * x[index]), -nmax, nmax - 1)
            levels[index] = Int8(truncatingIfNeeded: level + nmax)
            let weight = x[index] * x[index]
            sumLX += weight * x[index] * Float(level)
            sumL2 += weight * Float(level) * Float(level)
        }
        var scale: Float = sumL2 != 0 ? sumLX / sumL2 : 0
        var best = scale * sumLX
        for step in -9...9 where step != 0 {
            inverseScale = -(levelCount + 0.1 * Float(step)) / maximum
            sumLX = 0
            sumL2 = 0
            for index in 0..<count {
                let level = clamp(nearestInt(inverseScale * x[index]), -nmax, nmax - 1)
                let weight = x[index] * x[index]
                sumLX += weight * x[index] * Float(level)
                sumL2 += weight * Float(level) * Float(level)
            }
            if sumL2 > 0 && sumLX * sumLX > best * sumL2 {
                for index in 0..<count {
                    let level = clamp(nearestInt(inverseScale * x[index]), -nmax, nmax - 1)
                    levels[index] = Int8(truncatingIfNeeded: level + nmax)
                }
                scale = sumLX / sumL2
                best = scale * sumLX
            }
        }
        return scale
    }

    /// make_q3_quants with do_rmse, as Q3_K uses it: symmetric quants in -nmax..<nmax refined
    /// one at a time (up to 5 passes) to maximize the weighted fit; stored + nmax in `levels`.
    static func refinedSymmetricScale(
        _ x: UnsafePointer<Float>, count: Int, maxLevel nmax: Int32,
        levels: UnsafeMutablePointer<Int8>
    ) -> Float {
        let (maximum, magnitude) = signedMaximum(x, count: count)
        if magnitude < groupMaxEpsilon {
            levels.update(repeating: 0, count: count)
            return 0
        }
        let inverseScale = Float(-nmax) / maximum
        var sumLX: Float = 0
        var sumL2: Float = 0
        for index in 0..<count {
            let level = clamp(nearestInt(inverseScale * x[index]), -nmax, nmax - 1)
            levels[index] = Int8(truncatingIfNeeded: level)
            let weight = x[index] * x[index]
            sumLX += weight * x[index] * Float(level)
            sumL2 += weight * Float(level) * Float(level)
        }
        for _ in 0..<5 {
            var changed = 0
            for index in 0..<count {
                let weight = x[index] * x[index]
                let current = Float(levels[index])
                var trialLX = sumLX - weight * x[index] * current
                if trialLX > 0 {
                    var trialL2 = sumL2 - weight * current * current
                    let level = clamp(nearestInt(x[index] * trialL2 / trialLX), -nmax, nmax - 1)
                    if level != Int32(levels[index]) {
                        trialLX += weight * x[index] * Float(level)
                        trialL2 += weight * Float(level) * Float(level)
                        if trialL2 > 0 && trialLX * trialLX * sumL2 > sumLX * sumLX * trialL2 {
                            levels[index] = Int8(truncatingIfNeeded: level)
                            sumLX = trialLX
                            sumL2 = trialL2
                            changed += 1
                        }
                    }
                }
            }
            if changed == 0 { break }
        }
        for index in 0..<count {
            levels[index] = Int8(truncatingIfNeeded: Int32(levels[index]) + nmax)
        }
        return sumL2 > 0 ? sumLX / sumL2 : 0
    }

    /// make_qkx2_quants: asymmetric quants 0...nmax with scale and min (min ≤ 0) fitted by
    /// weighted least squares over `steps + 1` trial scales; returns (scale, -min).
    static func scaleAndMinimum(
        _ x: UnsafePointer<Float>, count: Int, maxLevel nmax: Int32,
        weights: UnsafePointer<Float>, levels: UnsafeMutablePointer<UInt8>,
        scratch: UnsafeMutablePointer<UInt8>, rangeStart: Float, rangeStep: Float, steps: Int,
        absoluteError: Bool
    ) -> (scale: Float, negatedMinimum: Float) {
        var minimum = x[0]
        var maximum = x[0]
        var sumW = weights[0]
        var sumX = sumW * x[0]
        for index in 1..<count {
            if x[index] < minimum { minimum = x[index] }
            if x[index] > maximum { maximum = x[index] }
            let weight = weights[index]
            sumW += weight
            sumX += weight * x[index]
        }
        if minimum > 0 { minimum = 0 }
        if maximum == minimum {
            levels.update(repeating: 0, count: count)
            return (0, -minimum)
        }
        let levelCount = Float(nmax)
        var inverseScale = levelCount / (maximum - minimum)
        var scale = 1 / inverseScale
        @inline(__always) func error(_ difference: Float) -> Float {
            absoluteError ? abs(difference) : difference * difference
        }
        var bestError: Float = 0
        for index in 0..<count {
            let level = clamp(nearestInt(inverseScale * (x[index] - minimum)), 0, nmax)
            levels[index] = UInt8(truncatingIfNeeded: level)
            bestError += weights[index] * error(scale * Float(level) + minimum - x[index])
        }
        for step in 0...steps {
            inverseScale = (rangeStart + rangeStep * Float(step) + levelCount) / (maximum - minimum)
            var sumL: Float = 0
            var sumL2: Float = 0
            var sumXL: Float = 0
            for index in 0..<count {
                let level = clamp(nearestInt(inverseScale * (x[index] - minimum)), 0, nmax)
                scratch[index] = UInt8(truncatingIfNeeded: level)
                let weight = weights[index]
                sumL += weight * Float(level)
                sumL2 += weight * Float(level) * Float(level)
                sumXL += weight * Float(level) * x[index]
            }
            let determinant = sumW * sumL2 - sumL * sumL
            guard determinant > 0 else { continue }
            var trialScale = (sumW * sumXL - sumX * sumL) / determinant
            var trialMinimum = (sumL2 * sumX - sumL * sumXL) / determinant
            if trialMinimum > 0 {
                trialMinimum = 0
                trialScale = sumXL / sumL2
            }
            var trialError: Float = 0
            for index in 0..<count {
                trialError +=
                    weights[index]
                    * error(trialScale * Float(scratch[index]) + trialMinimum - x[index])
            }
            if trialError < bestError {
                levels.update(from: scratch, count: count)
                bestError = trialError
                scale = trialScale
                minimum = trialMinimum
            }
        }
        return (scale, -minimum)
    }
}
