import Foundation

/// Gaussian noise scaled to each row: the perturbation the verifier's tolerance is measured
/// against (a worker that adds it is a fault in the detection matrix; `HonestNoise` adds it to
/// show where the band ends). Per row of `width`, N(0, (relative × RMS of the row)²) is added
/// to every value, so the noise's norm is about `relative` × the row's.
public enum RelativeNoise {
    public static func add(
        to values: inout [Float], width: Int, relative: Double,
        using generator: inout some RandomNumberGenerator
    ) {
        for start in stride(from: 0, to: values.count, by: width) {
            let row = start..<min(values.count, start + width)
            let meanSquare =
                values[row].reduce(0) { $0 + Double($1) * Double($1) } / Double(row.count)
            let sigma = relative * meanSquare.squareRoot()
            for index in row {
                values[index] += Float(sigma * gaussian(using: &generator))
            }
        }
    }

    /// A standard normal draw (Box–Muller over a uniform in (0, 1) and one in [0, 1)).
    private static func gaussian(using generator: inout some RandomNumberGenerator) -> Double {
        let u = Double.random(in: Double.ulpOfOne..<1, using: &generator)
        let v = Double.random(in: 0..<1, using: &generator)
        return (-2 * log(u)).squareRoot() * cos(2 * .pi * v)
    }
}
