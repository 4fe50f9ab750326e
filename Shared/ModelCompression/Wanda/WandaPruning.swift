/// Wanda's pruning of one weight matrix (Sun et al., "A Simple and Effective Pruning Approach
/// for Large Language Models", 2023): weight W_ij scores |W_ij|·‖X_j‖, and each output row
/// loses its lowest-scoring weights. No retraining, no weight update.
public enum WandaPruning {
    /// Zeroes the lowest-scoring weights of each row of `values` (rows × columns, row-major)
    /// given the input norms (one per column). Ties go by column: the lower column is removed
    /// first, as a stable ascending sort would order them.
    public static func prune(
        _ values: inout [Float], rows: Int, columns: Int, norms: [Float], pattern: WandaPattern
    ) throws {
        guard values.count == rows * columns, norms.count == columns else {
            throw WandaError.shapeMismatch(
                "\(values.count) weights for \(rows) × \(columns), \(norms.count) input norms")
        }
        switch pattern {
        case .unstructured(let fraction):
            guard fraction >= 0, fraction <= 1 else { throw WandaError.badFraction(fraction) }
            let removed = Int((Double(columns) * fraction).rounded(.down))
            values.withUnsafeMutableBufferPointer { weights in
                var order = [Int](repeating: 0, count: columns)
                var scores = [Float](repeating: 0, count: columns)
                for row in 0..<rows {
                    let base = weights.baseAddress! + row * columns
                    for column in 0..<columns {
                        scores[column] = abs(base[column]) * norms[column]
                        order[column] = column
                    }
                    order.sort { a, b in
                        scores[a] < scores[b] || (scores[a] == scores[b] && a < b)
                    }
                    for index in 0..<removed { base[order[index]] = 0 }
                }
            }
        case .twoOfFour:
            guard columns % 4 == 0 else {
                throw WandaError.shapeMismatch("2:4 needs a multiple of 4 columns, not \(columns)")
            }
            values.withUnsafeMutableBufferPointer { weights in
                for row in 0..<rows {
                    let base = weights.baseAddress! + row * columns
                    var group = 0
                    while group < columns {
                        pruneTwoOfFour(base + group, norms: norms, first: group)
                        group += 4
                    }
                }
            }
        }
    }

    /// Keeps the two highest-scoring of four consecutive weights.
    @inline(__always)
    private static func pruneTwoOfFour(
        _ weights: UnsafeMutablePointer<Float>, norms: [Float], first: Int
    ) {
        var scores: (Float, Float, Float, Float) = (0, 0, 0, 0)
        withUnsafeMutableBytes(of: &scores) { raw in
            let s = raw.bindMemory(to: Float.self)
            for k in 0..<4 { s[k] = abs(weights[k]) * norms[first + k] }
            // Rank each weight: how many others come before it in (score, column) order.
            for k in 0..<4 {
                var before = 0
                for other in 0..<4 where other != k {
                    if s[other] < s[k] || (s[other] == s[k] && other < k) { before += 1 }
                }
                if before < 2 { weights[k] = 0 }
            }
        }
    }
}

public enum WandaError: Error, CustomStringConvertible, Equatable {
    case shapeMismatch(String)
    case badFraction(Double)
    case missingNorms(tensor: String)

    public var description: String {
        switch self {
        case .shapeMismatch(let detail): "Wanda: shape mismatch: \(detail)"
        case .badFraction(let fraction): "Wanda: the pruned fraction \(fraction) is not in [0, 1]"
        case .missingNorms(let tensor):
            "Wanda: no calibration norms for \(tensor) (its input was never observed)"
        }
    }
}
