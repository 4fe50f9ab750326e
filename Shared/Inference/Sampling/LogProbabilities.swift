import Foundation

/// The model's log-probabilities: log-softmax of the raw logits (before bias, penalties and
/// temperature), i.e. logit − log Σ exp(logits). What the APIs report as `logprob`.
public enum LogProbabilities {
    /// log Σ exp(logits), computed in Double around the maximum so it cannot overflow;
    /// NaN and -infinity contribute nothing. -infinity when nothing is finite.
    public static func logSumExp(_ logits: [Float]) -> Double {
        var maximum = -Double.infinity
        for logit in logits where !logit.isNaN { maximum = max(maximum, Double(logit)) }
        guard maximum.isFinite else { return maximum }
        var sum = 0.0
        for logit in logits where !logit.isNaN { sum += exp(Double(logit) - maximum) }
        return maximum + log(sum)
    }

    /// A logit's log-probability given the vector's `logSumExp`.
    public static func logprob(_ logit: Float, logSumExp: Double) -> Float {
        Float(Double(logit) - logSumExp)
    }
}
