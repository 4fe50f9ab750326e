import Foundation

/// Running sums over scored positions: the negative log-likelihood of the true next token
/// (perplexity), and against a reference distribution the KL divergence and whether both
/// put the same token on top.
public struct NextTokenScores: Sendable {
    public private(set) var positions = 0
    private var negativeLogLikelihood = 0.0
    private var divergence = 0.0
    private var sameTop = 0

    public init() {}

    /// exp(mean NLL), as llama-perplexity prints it.
    public var perplexity: Double {
        positions == 0 ? .nan : exp(negativeLogLikelihood / Double(positions))
    }
    /// Mean KL(reference ‖ model) in nats.
    public var meanKLDivergence: Double { positions == 0 ? .nan : divergence / Double(positions) }
    /// Share of positions whose highest-probability token is the reference's.
    public var sameTopTokenRate: Double {
        positions == 0 ? .nan : Double(sameTop) / Double(positions)
    }

    /// Adds one position: the model's log-probabilities, the reference's (the same array for
    /// the reference itself), and the token that came next.
    mutating func add(model: LogProbabilities, reference: LogProbabilities, next: Int32) {
        positions += 1
        negativeLogLikelihood -= Double(model.values[Int(next)])
        divergence += model.divergence(from: reference)
        if model.top == reference.top { sameTop += 1 }
    }
}

/// log-softmax of one logit row, with its argmax.
struct LogProbabilities {
    var values: [Float]
    let top: Int

    init(logits: UnsafeBufferPointer<Float>) {
        var maximum = -Float.infinity
        var top = 0
        for index in 0..<logits.count where logits[index] > maximum {
            maximum = logits[index]
            top = index
        }
        var sum = 0.0
        for index in 0..<logits.count { sum += Double(expf(logits[index] - maximum)) }
        let shift = maximum + Float(log(sum))
        values = [Float](repeating: 0, count: logits.count)
        for index in 0..<logits.count { values[index] = logits[index] - shift }
        self.top = top
    }

    /// KL(reference ‖ self) = Σ p_ref · (log p_ref − log p_self), in nats.
    func divergence(from reference: LogProbabilities) -> Double {
        var total = 0.0
        values.withUnsafeBufferPointer { mine in
            reference.values.withUnsafeBufferPointer { theirs in
                for index in 0..<mine.count {
                    let logP = theirs[index]
                    total += Double(expf(logP) * (logP - mine[index]))
                }
            }
        }
        return max(0, total)
    }
}
