import Inference

/// The L2 norm of every input column of every block's matrix products, gathered over the
/// calibration tokens: ‖X_j‖ in Wanda's score |W_ij|·‖X_j‖.
public struct InputNorms: Sendable {
    /// Squared norms (sums of squares over all tokens), keyed by layer and input site.
    private var sumsOfSquares: [Key: [Double]] = [:]
    /// Calibration tokens seen.
    public private(set) var tokenCount = 0

    private struct Key: Hashable {
        let layer: Int
        let site: MatmulInputSite
    }

    public init() {}

    /// Adds `count` input rows of `width` values for `layer`'s `site`.
    mutating func add(
        layer: Int, site: MatmulInputSite, rows: UnsafePointer<Float>, count: Int, width: Int
    ) {
        let key = Key(layer: layer, site: site)
        var sums = sumsOfSquares[key] ?? [Double](repeating: 0, count: width)
        sumsOfSquares[key] = nil  // unique reference: the loop below updates in place
        sums.withUnsafeMutableBufferPointer { out in
            for row in 0..<count {
                let values = rows + row * width
                for column in 0..<width {
                    let value = Double(values[column])
                    out[column] += value * value
                }
            }
        }
        sumsOfSquares[key] = sums
    }

    /// Records that `count` tokens went through the model.
    mutating func countTokens(_ count: Int) { tokenCount += count }

    /// ‖X_j‖ for each input column j of `layer`'s `site`, nil if it was never observed.
    public func norms(layer: Int, site: MatmulInputSite) -> [Float]? {
        sumsOfSquares[Key(layer: layer, site: site)].map { sums in
            var norms = [Float](repeating: 0, count: sums.count)
            for index in 0..<sums.count { norms[index] = Float(sums[index].squareRoot()) }
            return norms
        }
    }

    /// Sets the norms directly (tests, and norms read back from elsewhere).
    public mutating func setNorms(_ norms: [Float], layer: Int, site: MatmulInputSite) {
        var sums = [Double](repeating: 0, count: norms.count)
        for index in 0..<norms.count { sums[index] = Double(norms[index]) * Double(norms[index]) }
        sumsOfSquares[Key(layer: layer, site: site)] = sums
    }
}
