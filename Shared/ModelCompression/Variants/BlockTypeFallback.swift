import GGUF

/// What a tensor is stored as when its rows do not split into the wanted type's blocks.
///
/// K-quants pack 256 values per block, so a row of SmolLM2's 576 inputs cannot be one.
/// llama.cpp's `llama-quantize` (llama-quant.cpp, "convert_incompatible_tensor") then uses
/// Q4_K → Q5_0, Q5_K → Q5_1, Q6_K → Q8_0 and Q2_K/Q3_K → IQ4_NL. Tessera has no IQ4_NL
/// (a non-linear 4-bit type, 4.5 bits per weight in blocks of 32); Q4_0 has the same block
/// size and bits per weight and is the nearest type it has, so Q2_K/Q3_K fall back to Q4_0.
/// The 32-value types have no fallback: every row Tessera serves is a multiple of 32.
public enum BlockTypeFallback {
    /// The type a row of `rowLength` values is stored in when `wanted` is asked for, or nil
    /// when no type fits.
    public static func storedType(wanted: GGMLType, rowLength: Int) -> GGMLType? {
        if rowLength % wanted.blockSize == 0 { return wanted }
        let fallback: GGMLType? =
            switch wanted {
            case .q4_K: .q5_0
            case .q5_K: .q5_1
            case .q6_K: .q8_0
            case .q2_K, .q3_K: .q4_0
            default: nil
            }
        guard let fallback, rowLength % fallback.blockSize == 0 else { return nil }
        return fallback
    }
}

/// One tensor stored in another type than the method asked for.
public struct VariantFallback: Sendable, Hashable, Codable {
    public var tensor: String
    public var wanted: String
    public var used: String

    public init(tensor: String, wanted: GGMLType, used: GGMLType) {
        self.tensor = tensor
        self.wanted = wanted.name
        self.used = used.name
    }
}
