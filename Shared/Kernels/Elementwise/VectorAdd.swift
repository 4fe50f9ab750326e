/// In-place elementwise addition (the residual connections).
public enum VectorAdd {
    public static func apply(
        _ target: UnsafeMutablePointer<Float>, adding source: UnsafePointer<Float>, count: Int
    ) {
        var index = 0
        while index + 8 <= count {
            let destination = UnsafeMutableRawPointer(target + index)
            let sum =
                destination.loadUnaligned(as: SIMD8<Float>.self)
                + UnsafeRawPointer(source + index).loadUnaligned(as: SIMD8<Float>.self)
            destination.storeBytes(of: sum, as: SIMD8<Float>.self)
            index += 8
        }
        while index < count {
            target[index] += source[index]
            index += 1
        }
    }
}
