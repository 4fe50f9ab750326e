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
