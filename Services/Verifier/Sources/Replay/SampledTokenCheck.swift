import Inference

/// Whether a token the last stage committed is one its sampler could have picked from the
/// replayed logits, asked as the worker asks its `Sampler` (ForwardSession+Step's `sample`):
/// the declared parameters, the tokens so far as the penalty window, the next position as
/// the draw's seed, and a response format's constraint caught up with the output so far.
/// One per attempt: the constraint is a session's state.
struct SampledTokenCheck {
    enum Verdict {
        case agrees
        case differs(String)
        /// The check cannot be made (and so never counts as passed).
        case unchecked(String)
    }

    /// Greedy: a committed token whose adjusted logit is within `tieMargin` × max(1, |best|)
    /// of the best one is a genuine near-tie, which honest noise may flip.
    let tieMargin: Double
    let endOfGeneration: Set<Int32>
    /// Where the output starts in the sequence (the prompt's length): the constraint reads
    /// the tokens from there.
    let outputStart: Int
    private let sampler: Sampler?
    /// The declared filters without truncation or temperature: every candidate with its
    /// adjusted logit, to measure a greedy near-tie.
    private let relaxed: Sampler?
    private var constraint: TokenConstraint?
    /// Why no token of this attempt can be checked.
    private let impossible: String?

    init(
        sampling: SamplingParameters, lastStage: ReplayStage, outputStart: Int, tieMargin: Double
    ) {
        self.tieMargin = tieMargin
        self.outputStart = outputStart
        endOfGeneration = lastStage.endOfGeneration
        var relaxedParameters = sampling
        relaxedParameters.temperature = 1
        relaxedParameters.topK = 0
        relaxedParameters.topP = 1
        relaxedParameters.minP = 0
        do {
            let made = (
                try Sampler(parameters: sampling), try Sampler(parameters: relaxedParameters),
                try Self.constraint(sampling, vocabulary: lastStage.vocabulary)
            )
            (sampler, relaxed, constraint, impossible) = (made.0, made.1, made.2, nil)
        } catch {
            (sampler, relaxed, constraint, impossible) = (nil, nil, nil, "\(error)")
        }
    }

    /// The worker's constraint for the request (ForwardSession's `makeConstraint`).
    private static func constraint(_ sampling: SamplingParameters, vocabulary: TokenVocabulary?)
        throws -> TokenConstraint?
    {
        guard let grammar = try sampling.responseFormat.grammar() else { return nil }
        guard let vocabulary else {
            throw Unavailable(
                "response_format \(sampling.responseFormat.kindName) needs the model's "
                    + "vocabulary, which the last shard does not carry")
        }
        return TokenConstraint(grammar: grammar, vocabulary: vocabulary)
    }

    /// `history` is the sequence up to the sampled token's position (its length).
    mutating func check(_ committed: Int32, logits: [Float], history: ArraySlice<Int32>)
        -> Verdict
    {
        guard let sampler, let relaxed, impossible == nil else {
            return .unchecked(impossible ?? "no sampler")
        }
        let position = history.endIndex
        let recent = Array(history)
        let expected: Int32
        do {
            try catchUpConstraint(history)
            expected = try sampler.sample(
                logits: logits, recentTokens: recent, position: position,
                endOfGeneration: endOfGeneration, constraint: constraint)
        } catch {
            return .unchecked("position \(position): the sampler cannot run: \(error)")
        }
        if expected == committed { return .agrees }
        let said = "position \(position): sampled token \(committed)"
        guard sampler.parameters.isGreedy else {
            return .differs(
                "\(said), but the declared sampler draws token \(expected) from the replayed logits "
                    + "(seed \(sampler.parameters.seed))")
        }
        guard
            let candidates = try? relaxed.finalCandidates(
                logits: logits, recentTokens: recent, endOfGeneration: endOfGeneration,
                constraint: constraint),
            let best = candidates.first
        else { return .differs("\(said), but greedy decoding picks token \(expected)") }
        let margin = tieMargin * max(1, abs(Double(best.logit)))
        guard let mine = candidates.first(where: { $0.id == committed }) else {
            return .differs(
                "\(said), which the declared sampler never picks; greedy decoding picks token "
                    + "\(expected) (logit \(FingerprintCheck.format(Double(best.logit))))")
        }
        let gap = Double(best.logit) - Double(mine.logit)
        if gap <= margin { return .agrees }  // a genuine near-tie
        return .differs(
            "\(said) (logit \(FingerprintCheck.format(Double(mine.logit)))), but greedy decoding "
                + "picks token \(expected) (logit \(FingerprintCheck.format(Double(best.logit)))); "
                + "a near-tie is within \(FingerprintCheck.format(margin))")
    }

    /// ForwardSession's `catchUpConstraint`: the constraint reads the output tokens it has not
    /// seen, all of them again after a rewind into the output.
    private mutating func catchUpConstraint(_ history: ArraySlice<Int32>) throws {
        guard var constraint, history.count > outputStart else { return }
        if history.count - outputStart < constraint.acceptedCount { constraint.reset() }
        do {
            for token in history[(outputStart + constraint.acceptedCount)...] {
                try constraint.accept(token)
            }
        } catch {
            throw Unavailable("the output does not fit its response format: \(error)")
        }
        self.constraint = constraint
    }

    private struct Unavailable: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }
}
