/// Per-step randomness that depends only on (seed, position): replaying generation from any
/// position draws the same numbers, whatever happened before or on another node.
public enum SamplingRandom {
    /// A uniform value in [0, 1) for the token sampled at `position`.
    public static func uniform(seed: UInt64, position: Int) -> Double {
        // Two SplitMix64 finalisations decorrelate neighbouring seeds and positions.
        let mixed = mix(
            mix(seed ^ 0x5DEE_CE66_D1CE_4E5B) &+ UInt64(bitPattern: Int64(position))
                &* 0x9E37_79B9_7F4A_7C15)
        return Double(mixed >> 11) * 0x1.0p-53
    }

    static func mix(_ value: UInt64) -> UInt64 {
        var z = value &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
