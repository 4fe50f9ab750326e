import Foundation

/// A token still in the running, with its (possibly adjusted) logit.
public struct TokenCandidate: Sendable, Equatable {
    public var id: Int32
    public var logit: Float
}

/// The individual steps of llama.cpp's sampler chain, each on a candidate list sorted by
/// descending logit (ties by ascending id). Each keeps at least one candidate.
enum SamplingFilters {
    /// llama.cpp's logit bias: added to the logits of the given tokens (ids outside the
    /// vocabulary are ignored; the gateway refuses them).
    static func applyLogitBias(_ logits: inout [Float], bias: [Int32: Float]) {
        for (id, value) in bias where id >= 0 && Int(id) < logits.count {
            logits[Int(id)] += value
        }
    }

    /// llama.cpp's penalties sampler: for each distinct token in the window, the logit is
    /// divided by the repetition penalty when positive and multiplied by it otherwise (once,
    /// however often it occurred), then the frequency penalty is subtracted once per
    /// occurrence and the presence penalty once.
    static func applyPenalties(
        _ logits: inout [Float], recent: some Sequence<Int32>, repeat penalty: Float,
        frequency: Float = 0, presence: Float = 0
    ) {
        guard penalty != 1 || frequency != 0 || presence != 0 else { return }
        var counts: [Int32: Int] = [:]
        for id in recent where id >= 0 && Int(id) < logits.count { counts[id, default: 0] += 1 }
        for (id, count) in counts {
            var logit = logits[Int(id)]
            logit = logit <= 0 ? logit * penalty : logit / penalty
            logits[Int(id)] = logit - Float(count) * frequency - presence
        }
    }

    static func sortedCandidates(_ logits: [Float]) -> [TokenCandidate] {
        var candidates: [TokenCandidate] = []
        candidates.reserveCapacity(logits.count)
        for (id, logit) in logits.enumerated() where logit.isFinite || logit == .infinity {
            candidates.append(TokenCandidate(id: Int32(id), logit: logit))
        }
        candidates.sort { $0.logit != $1.logit ? $0.logit > $1.logit : $0.id < $1.id }
        return candidates
    }

    static func topK(_ candidates: inout [TokenCandidate], k: Int) {
        guard k > 0, k < candidates.count else { return }
        candidates.removeSubrange(k...)
    }

    /// Softmax probabilities of the (sorted) candidates.
    static func probabilities(_ candidates: [TokenCandidate]) -> [Double] {
        guard let top = candidates.first?.logit else { return [] }
        if top == .infinity {
            return candidates.map { $0.logit == .infinity ? 1 : 0 }.normalised()
        }
        return candidates.map { Double(exp($0.logit - top)) }.normalised()
    }

    /// Keeps the shortest prefix whose probability mass reaches p.
    static func topP(_ candidates: inout [TokenCandidate], p: Float) {
        guard p < 1, candidates.count > 1 else { return }
        let probabilities = probabilities(candidates)
        var cumulative = 0.0
        for (index, probability) in probabilities.enumerated() {
            cumulative += probability
            if cumulative >= Double(p) {
                candidates.removeSubrange((index + 1)...)
                return
            }
        }
    }

    /// Keeps tokens whose probability is at least p times the top token's, i.e. whose logit
    /// is at least top + ln(p).
    static func minP(_ candidates: inout [TokenCandidate], p: Float) {
        guard p > 0, let top = candidates.first?.logit, candidates.count > 1 else { return }
        let threshold = top + Float(log(Double(p)))
        let keep = max(1, candidates.firstIndex { $0.logit < threshold } ?? candidates.count)
        candidates.removeSubrange(keep...)
    }

    static func temperature(_ candidates: inout [TokenCandidate], _ temperature: Float) {
        for index in candidates.indices { candidates[index].logit /= temperature }
    }

    /// Inverse-CDF draw: the first candidate whose cumulative probability exceeds `uniform`.
    static func draw(_ candidates: [TokenCandidate], uniform: Double) -> Int32 {
        let probabilities = probabilities(candidates)
        var cumulative = 0.0
        for (candidate, probability) in zip(candidates, probabilities) {
            cumulative += probability
            if uniform < cumulative { return candidate.id }
        }
        return candidates[probabilities.lastIndex { $0 > 0 } ?? 0].id
    }
}

extension Array where Element == Double {
    func normalised() -> [Double] {
        let total = reduce(0, +)
        return total > 0 ? map { $0 / total } : self
    }
}
