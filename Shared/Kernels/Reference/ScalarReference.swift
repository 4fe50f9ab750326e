import Foundation
import GGUF

/// Plain, obviously-correct scalar versions of every kernel, accumulating in Double.
/// Tests check the fast SIMD/integer kernels against these; nothing on the hot path uses them.
public enum ScalarReference {
    /// weight (rows × columns, ggml layout) times input (tokens × columns) → tokens × rows.
    public static func matmul(_ weight: WeightMatrix, input: [Float], tokens: Int) throws -> [Float]
    {
        var output = [Float](repeating: 0, count: tokens * weight.rows)
        var row = [Float](repeating: 0, count: weight.columns)
        for r in 0..<weight.rows {
            try row.withUnsafeMutableBufferPointer {
                try weight.decodeRow(r, into: $0.baseAddress!)
            }
            for t in 0..<tokens {
                var sum = 0.0
                for c in 0..<weight.columns {
                    sum += Double(row[c]) * Double(input[t * weight.columns + c])
                }
                output[t * weight.rows + r] = Float(sum)
            }
        }
        return output
    }

    public static func rmsNorm(_ x: [Float], weight: [Float], epsilon: Float) -> [Float] {
        let meanSquare = x.reduce(0.0) { $0 + Double($1) * Double($1) } / Double(x.count)
        let scale = 1 / (meanSquare + Double(epsilon)).squareRoot()
        return zip(x, weight).map { Float(Double($0) * scale * Double($1)) }
    }

    public static func softmax(_ x: [Float]) -> [Float] {
        let maximum = x.max() ?? 0
        let exps = x.map { Foundation.exp(Double($0 - maximum)) }
        let total = exps.reduce(0, +)
        return exps.map { Float($0 / total) }
    }

    public static func silu(_ x: Float) -> Float {
        Float(Double(x) / (1 + Foundation.exp(-Double(x))))
    }

    public static func swiGLU(gate: [Float], up: [Float]) -> [Float] {
        zip(gate, up).map { silu($0) * $1 }
    }

    /// Rotates every head of `x` by its RoPE angles; `adjacentPairs` selects llama's pairing.
    public static func rope(
        _ x: [Float], headDimension: Int, position: Int, base: Double, adjacentPairs: Bool
    ) -> [Float] {
        var out = x
        let half = headDimension / 2
        for head in 0..<(x.count / headDimension) {
            for pair in 0..<half {
                let angle = Double(position) * pow(base, -2 * Double(pair) / Double(headDimension))
                let i = head * headDimension + (adjacentPairs ? 2 * pair : pair)
                let j = head * headDimension + (adjacentPairs ? 2 * pair + 1 : pair + half)
                out[i] = Float(Double(x[i]) * cos(angle) - Double(x[j]) * sin(angle))
                out[j] = Float(Double(x[i]) * sin(angle) + Double(x[j]) * cos(angle))
            }
        }
        return out
    }

    /// Causal scaled-dot-product attention for one query position over `keys`/`values`
    /// (each `length` × headDimension), one head.
    public static func attention(query: [Float], keys: [Float], values: [Float], headDimension: Int)
        -> [Float]
    {
        let length = keys.count / headDimension
        let scale = 1 / Double(headDimension).squareRoot()
        var scores = [Float](repeating: 0, count: length)
        for t in 0..<length {
            var dot = 0.0
            for d in 0..<headDimension {
                dot += Double(query[d]) * Double(keys[t * headDimension + d])
            }
            scores[t] = Float(dot * scale)
        }
        let weights = softmax(scores)
        return (0..<headDimension).map { d in
            Float(
                (0..<length).reduce(0.0) {
                    $0 + Double(weights[$1]) * Double(values[$1 * headDimension + d])
                })
        }
    }
}
