/// The gated feed-forward activation: out = silu(gate) · up, with silu(x) = x / (1 + e^-x).
public enum SwiGLU {
    public static func apply(
        gate: UnsafePointer<Float>, up: UnsafePointer<Float>, count: Int, output: UnsafeMutablePointer<Float>
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
