/// Root-mean-square normalization: y = x / sqrt(mean(x²) + ε) · weight.
public enum RMSNorm {
    /// Normalizes `rows` rows of `width` floats from `input` into `output` (may alias).
    public static func apply(
        _ input: UnsafePointer<Float>, weight: UnsafePointer<Float>, width: Int, rows: Int = 1,
        epsilon: Float,
        output: UnsafeMutablePointer<Float>
    ) {
        for row in 0..<rows {
            let x = input + row * width
            let y = output + row * width
            let sumOfSquares = FloatDotKernels.dot(x, x, count: width)
            let scale = 1 / (sumOfSquares / Float(width) + epsilon).squareRoot()
            var index = 0
            while index + 8 <= width {
                let values = UnsafeRawPointer(x + index).loadUnaligned(as: SIMD8<Float>.self)
                let gains = UnsafeRawPointer(weight + index).loadUnaligned(as: SIMD8<Float>.self)
                UnsafeMutableRawPointer(y + index).storeBytes(
                    of: values * scale * gains, as: SIMD8<Float>.self)
                index += 8
            }
            while index < width {
                y[index] = x[index] * scale * weight[index]
                index += 1
            }
        }
    }
}
