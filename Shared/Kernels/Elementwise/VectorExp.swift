// Softmax and SwiGLU share this file with vectorExp so that debug builds, which compile
// file by file, still inline the exponential into their loops.

/// exp(x) for eight floats at once. Scalar `exp` is a libm call per element, and SiLU plus the
/// attention softmax need tens of thousands of them per token.
///
/// Range reduction x = n·ln2 + r with |r| ≤ ln2/2, then a degree-6 polynomial for e^r
/// (Cephes' expf coefficients), then scaling by 2^n built in the exponent bits.
/// Accurate to about 2 ulp; inputs below -87.3 give 0 and above 88.7 give +inf.
@inline(__always)
public func vectorExp(_ x: SIMD8<Float>) -> SIMD8<Float> {
    // replace(with:where:) rather than clamped(...): the generic clamp is not always inlined.
    var clamped = x
    clamped.replace(with: -87.3, where: x .< -87.3)
    clamped.replace(with: 88.7, where: x .> 88.7)
    // Adding 1.5·2^23 rounds to an integer in the low mantissa bits (no slow float→int conversion).
    let roundingMagic: Float = 12_582_912
    let shifted = clamped * 1.442_695_04 + roundingMagic
    let n = shifted - roundingMagic
    // ln2 split in two so n·ln2 is subtracted without losing bits.
    let r = (clamped - n * 0.693_359_375) - n * -2.121_944_4e-4
    var p = SIMD8<Float>(repeating: 1.987_569_15e-4)
    p = p * r + 1.398_199_95e-3
    p = p * r + 8.333_451_9e-3
    p = p * r + 4.166_579_59e-2
    p = p * r + 1.666_666_55e-1
    p = p * r + 5.000_000_12e-1
    let expR = (p * r * r + r) + 1
    let exponentBits = (unsafeBitCast(shifted, to: SIMD8<Int32>.self) &- 0x4B40_0000 &+ 127) &<< 23
    var result = expR * unsafeBitCast(exponentBits, to: SIMD8<Float>.self)
    result.replace(with: 0, where: x .< -87.3)
    result.replace(with: .infinity, where: x .> 88.7)
    result.replace(with: .nan, where: x .!= x)
    return result
}

/// Numerically stable softmax in place: subtract the maximum, exponentiate, normalize.
public enum Softmax {
    public static func apply(_ values: UnsafeMutablePointer<Float>, count: Int) {
        guard count > 0 else { return }
        var maximum = -Float.infinity
        for index in 0..<count { maximum = max(maximum, values[index]) }
        var total: Float = 0
        var index = 0
        while index + 8 <= count {
            let raw = UnsafeMutableRawPointer(values + index)
            let exps = vectorExp(raw.loadUnaligned(as: SIMD8<Float>.self) - maximum)
            raw.storeBytes(of: exps, as: SIMD8<Float>.self)
            total += exps.sum()
            index += 8
        }
        while index < count {
            let value = vectorExp(SIMD8(repeating: values[index] - maximum))[0]
            values[index] = value
            total += value
            index += 1
        }
        let inverse = 1 / total
        for index in 0..<count { values[index] *= inverse }
    }
}

/// The gated feed-forward activation: out = silu(gate) · up, with silu(x) = x / (1 + e^-x).
public enum SwiGLU {
    public static func apply(
        gate: UnsafePointer<Float>, up: UnsafePointer<Float>, count: Int,
        output: UnsafeMutablePointer<Float>
    ) {
        var index = 0
        while index + 8 <= count {
            let g = UnsafeRawPointer(gate + index).loadUnaligned(as: SIMD8<Float>.self)
            let u = UnsafeRawPointer(up + index).loadUnaligned(as: SIMD8<Float>.self)
            let silu = g / (1 + vectorExp(-g))
            UnsafeMutableRawPointer(output + index).storeBytes(of: silu * u, as: SIMD8<Float>.self)
            index += 8
        }
        while index < count {
            let g = gate[index]
            output[index] = g / (1 + vectorExp(SIMD8(repeating: -g))[0]) * up[index]
            index += 1
        }
    }
}
