import Foundation

/// Rotary position embedding (RoPE). Pair j of a head is rotated by the angle
/// position · base^(-2j / rotaryDimensions).
public struct RotaryEmbedding: Sendable {
    /// Which elements of a head form the rotated pairs.
    public enum Style: Sendable {
        /// (x[2j], x[2j+1]): ggml's "normal" mode, used for the `llama` architecture
        /// (the GGUF converter permutes Q/K weights so this matches the HF model).
        case adjacentPairs
        /// (x[j], x[j + d/2]): ggml's NeoX mode.
        case halves
    }

    public let headDimension: Int
    public let rotaryDimensions: Int
    public let style: Style
    private let inverseFrequencies: [Double]
    private let magnitude: Float

    /// `scale` multiplies every angle (linear position interpolation, 1 / rope.scaling.factor);
    /// `frequencyFactors` (one per pair, Llama 3.1's `rope_freqs`) divide pair i's angle;
    /// `magnitude` multiplies the rotation (ggml's attention factor, `rope.scaling.attn_factor`).
    public init(
        headDimension: Int, rotaryDimensions: Int? = nil, base: Double, style: Style,
        scale: Double = 1, frequencyFactors: [Float]? = nil, magnitude: Float = 1
    ) {
        self.magnitude = magnitude
        self.headDimension = headDimension
        let rotary = min(rotaryDimensions ?? headDimension, headDimension)
        self.rotaryDimensions = rotary - rotary % 2
        self.style = style
        inverseFrequencies = (0..<(self.rotaryDimensions / 2)).map { pair in
            let factor = frequencyFactors.map { Double($0[pair]) } ?? 1
            return scale * pow(base, -2 * Double(pair) / Double(rotary)) / factor
        }
    }

    /// Rotates `heads` consecutive heads of `vector` (each `headDimension` floats) for `position`.
    public func apply(_ vector: UnsafeMutablePointer<Float>, heads: Int, position: Int) {
        let pairs = rotaryDimensions / 2
        withUnsafeTemporaryAllocation(of: Float.self, capacity: 2 * max(pairs, 1)) { table in
            let cosines = table.baseAddress!
            let sines = cosines + pairs
            for pair in 0..<pairs {
                let angle = Double(position) * inverseFrequencies[pair]
                cosines[pair] = Float(cos(angle)) * magnitude
                sines[pair] = Float(sin(angle)) * magnitude
            }
            for head in 0..<heads {
                let x = vector + head * headDimension
                for pair in 0..<pairs {
                    let (first, second) =
                        style == .adjacentPairs ? (2 * pair, 2 * pair + 1) : (pair, pair + pairs)
                    let a = x[first]
                    let b = x[second]
                    x[first] = a * cosines[pair] - b * sines[pair]
                    x[second] = a * sines[pair] + b * cosines[pair]
                }
            }
        }
    }
}
