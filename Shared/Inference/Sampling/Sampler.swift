import Foundation

/// Chooses the next token from logits, in llama.cpp's chain order: logit bias, penalties
/// (repetition, frequency, presence), top-k, top-p, min-p, temperature, then a softmax draw.
/// Temperature 0 is greedy (the highest logit after the bias and penalties). Draws come from `SamplingRandom` keyed by
/// (seed, position), so the same inputs always give the same token. A `TokenConstraint`
/// (JSON modes) removes the tokens it does not allow before top-k, as if their logits were
/// -infinity; it is asked lazily, best candidates first, since a check walks the grammar.
public struct Sampler: Sendable {
    public let parameters: SamplingParameters

    public init(parameters: SamplingParameters) throws {
        try parameters.validate()
        self.parameters = parameters
    }

    /// - Parameters:
    ///   - logits: one value per vocabulary entry.
    ///   - recentTokens: the sequence so far (prompt and output); the penalty looks at its tail.
    ///   - position: the index the sampled token will take in the sequence (seeds the draw).
    ///   - endOfGeneration: tokens never sampled when `ignoreEOS` is set.
    ///   - constraint: only tokens it allows are sampled.
    public func sample(
        logits: [Float], recentTokens: [Int32] = [], position: Int,
        endOfGeneration: Set<Int32> = [],
        constraint: TokenConstraint? = nil
    ) throws -> Int32 {
        let candidates = try finalCandidates(
            logits: logits, recentTokens: recentTokens, endOfGeneration: endOfGeneration,
            constraint: constraint)
        if parameters.isGreedy { return candidates[0].id }
        return SamplingFilters.draw(
            candidates, uniform: SamplingRandom.uniform(seed: parameters.seed, position: position))
    }

    /// The candidates left after every filter, sorted, with temperature applied: what the
    /// final draw chooses from (a single token when greedy).
    public func finalCandidates(
        logits input: [Float], recentTokens: [Int32] = [], endOfGeneration: Set<Int32> = [],
        constraint: TokenConstraint? = nil
    ) throws -> [TokenCandidate] {
        guard !input.isEmpty else { throw SamplingError.emptyLogits }
        var logits = input.map { $0.isNaN ? -Float.infinity : $0 }
        if parameters.ignoreEOS {
            for id in endOfGeneration where id >= 0 && Int(id) < logits.count {
                logits[Int(id)] = -.infinity
            }
        }
        let window: ArraySlice<Int32> =
            switch parameters.repeatLastN {
            case 0: []
            case -1: recentTokens[...]
            default: recentTokens.suffix(parameters.repeatLastN)
            }
        SamplingFilters.applyLogitBias(&logits, bias: parameters.logitBias)
        SamplingFilters.applyPenalties(
            &logits, recent: window, repeat: parameters.repeatPenalty,
            frequency: parameters.frequencyPenalty, presence: parameters.presencePenalty)

        if parameters.isGreedy {
            guard let best = Self.argmax(logits) else { throw SamplingError.noFiniteLogits }
            if constraint?.allows(Int32(best)) ?? true {
                return [TokenCandidate(id: Int32(best), logit: logits[best])]
            }
        }
        var candidates = SamplingFilters.sortedCandidates(logits)
        guard !candidates.isEmpty else { throw SamplingError.noFiniteLogits }
        if let constraint {
            let limit = parameters.isGreedy ? 1 : parameters.topK
            candidates = Self.allowed(candidates, by: constraint, limit: limit)
            guard !candidates.isEmpty else { throw SamplingError.noAllowedToken }
            if parameters.isGreedy { return candidates }
        }
        SamplingFilters.topK(&candidates, k: parameters.topK)
        SamplingFilters.topP(&candidates, p: parameters.topP)
        SamplingFilters.minP(&candidates, p: parameters.minP)
        SamplingFilters.temperature(&candidates, parameters.temperature)
        return candidates
    }

    /// The first `limit` candidates (all when 0) that the constraint allows, in order.
    static func allowed(_ candidates: [TokenCandidate], by constraint: TokenConstraint, limit: Int)
        -> [TokenCandidate]
    {
        var kept: [TokenCandidate] = []
        for candidate in candidates where constraint.allows(candidate.id) {
            kept.append(candidate)
            if kept.count == limit { break }
        }
        return kept
    }

    /// The first index of the largest value, ignoring -infinity; nil when there is none.
    static func argmax(_ values: [Float]) -> Int? {
        var best: Int?
        for (index, value) in values.enumerated() where value > -.infinity {
            if best == nil || value > values[best!] { best = index }
        }
        return best
    }
}
