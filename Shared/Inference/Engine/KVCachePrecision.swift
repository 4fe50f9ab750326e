/// How a session stores attention keys and values. f16 halves the cache (llama.cpp's default
/// too); f32 keeps them exact.
public enum KVCachePrecision: String, Sendable, CaseIterable {
    case f32, f16

    public var bytesPerValue: Int { self == .f32 ? 4 : 2 }
}
