/// IEEE half-precision helpers. ggml stores block scales and F16 tensors as raw 16-bit
/// patterns; Swift's `Float16` converts them exactly (F16C instructions on x86_64).
@inline(__always)
func floatFromHalfBits(_ bits: UInt16) -> Float {
    Float(Float16(bitPattern: bits))
}

/// Round-to-nearest-even conversion, the same rounding ggml's FP32_TO_FP16 uses.
@inline(__always)
func halfBitsFromFloat(_ value: Float) -> UInt16 {
    Float16(value).bitPattern
}

/// Reads a half-precision scale stored at `offset` bytes past `base` (blocks are not aligned).
@inline(__always)
func loadHalf(_ base: UnsafeRawPointer, _ offset: Int) -> Float {
    floatFromHalfBits(base.loadUnaligned(fromByteOffset: offset, as: UInt16.self))
}

/// Row conversions for plain F16 tensors.
public enum HalfRows {
    public static func dequantize(
        _ source: UnsafeRawPointer, count: Int, into destination: UnsafeMutablePointer<Float>
    ) {
        var index = 0
        while index + 8 <= count {
            let halves = source.loadUnaligned(fromByteOffset: index * 2, as: SIMD8<UInt16>.self)
            for lane in 0..<8 { destination[index + lane] = floatFromHalfBits(halves[lane]) }
            index += 8
        }
        while index < count {
            destination[index] = floatFromHalfBits(
                source.loadUnaligned(fromByteOffset: index * 2, as: UInt16.self))
            index += 1
        }
    }

    public static func quantize(
        _ source: UnsafePointer<Float>, count: Int, into destination: UnsafeMutableRawPointer
    ) {
        for index in 0..<count {
            destination.storeBytes(
                of: halfBitsFromFloat(source[index]), toByteOffset: index * 2, as: UInt16.self)
        }
    }
}

/// `min(upperBound, trunc(value))` for non-negative values, as ggml's `MIN(15, (int8_t)x)`;
/// NaN and negative inputs give 0 instead of trapping.
@inline(__always)
func truncatedNibble(_ value: Float, upperBound: Float = 15) -> UInt8 {
    guard value > 0 else { return 0 }
    return UInt8(min(value, upperBound))
}

/// roundf(value) clamped to the int8 range used by Q8 blocks; NaN gives 0 instead of trapping.
@inline(__always)
func roundedInt8(_ value: Float) -> Int8 {
    guard !value.isNaN else { return 0 }
    return Int8(min(max(value, -127), 127).rounded(.toNearestOrAwayFromZero))
}
