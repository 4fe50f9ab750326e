/// How a session stores attention keys and values. f16 halves the cache (llama.cpp's default
/// too); f32 keeps them exact.
public enum KVCachePrecision: String, Sendable, CaseIterable {
    case f32, f16

    public var bytesPerValue: Int { self == .f32 ? 4 : 2 }
}

/// Reads and writes one cache element type in groups of eight floats.
protocol KVElement {
    static func load8(_ base: UnsafeRawPointer, _ index: Int) -> SIMD8<Float>
    static func load(_ base: UnsafeRawPointer, _ index: Int) -> Float
    static func store(_ values: UnsafePointer<Float>, count: Int, to base: UnsafeMutableRawPointer)
}

extension Float: KVElement {
    @inline(__always) static func load8(_ base: UnsafeRawPointer, _ index: Int) -> SIMD8<Float> {
        base.loadUnaligned(fromByteOffset: index * 4, as: SIMD8<Float>.self)
    }

    @inline(__always) static func load(_ base: UnsafeRawPointer, _ index: Int) -> Float {
        base.loadUnaligned(fromByteOffset: index * 4, as: Float.self)
    }

    static func store(_ values: UnsafePointer<Float>, count: Int, to base: UnsafeMutableRawPointer) {
        base.copyMemory(from: values, byteCount: count * 4)
    }
}

extension Float16: KVElement {
    @inline(__always) static func load8(_ base: UnsafeRawPointer, _ index: Int) -> SIMD8<Float> {
        let halves = base.loadUnaligned(fromByteOffset: index * 2, as: SIMD8<Float16>.self)
        var floats = SIMD8<Float>()
        for lane in 0..<8 { floats[lane] = Float(halves[lane]) }  // one vcvtph2ps
        return floats
    }

    @inline(__always) static func load(_ base: UnsafeRawPointer, _ index: Int) -> Float {
        Float(base.loadUnaligned(fromByteOffset: index * 2, as: Float16.self))
    }

    static func store(_ values: UnsafePointer<Float>, count: Int, to base: UnsafeMutableRawPointer) {
        for index in 0..<count { base.storeBytes(of: Float16(values[index]), toByteOffset: index * 2, as: Float16.self) }
    }
}
