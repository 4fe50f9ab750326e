import Inference
import Integrity

extension AttemptReplay {
    /// Runs one step through the pipeline as its workers did, comparing each commitment as
    /// the stage that signed it produces its output. The first stage embeds the step's tokens
    /// at once; every later stage runs each message it received (the pieces the stage before
    /// committed to sending), fed with the replay's own rows from the stage before: a wrong
    /// stage poisons nothing after it here, so a failing later stage is that stage's own
    /// fault. Returns false when the step cannot be run (the fault is in the tally).
    mutating func run(_ step: PlannedStep, tally: inout ReplayTally) -> Bool {
        var upstream: [Float] = []  // the previous stage's output rows, the step's positions
        for index in stages.indices {
            let stage = stages[index].stage
            let hp = stage.hyperparameters
            let commitments = step.commitments[index]
            // A call per message: the step itself at the first stage, then the pieces sent.
            let sent = index == 0 ? [] : step.commitments[index - 1]
            let calls = index == 0 ? [step.range] : sent.map(\.positions)
            var rows: [Float] = []
            for (call, range) in calls.enumerated() {
                let input: StageInput =
                    index == 0
                    ? .tokens(Array(tokens[range]))
                    : .hidden(
                        Array(upstream[rowSlice(range, in: step.range, width: hp.embeddingLength)]),
                        count: range.count)
                let replay = index == 0 ? step.replay : sent[call].replay
                let output: StageOutput
                do {
                    output = try forward(
                        index, input, at: range.lowerBound, count: range.count, replay: replay)
                } catch {
                    tally.fail(
                        planned[index],
                        "step \(step.number), positions \(range.layerSpan): \(error)")
                    return false
                }
                guard stage.isLast else {
                    rows += output.values
                    continue
                }
                // The last stage: the logits of the call's last position, and the token (its
                // commitments are the calls', one each: `ReplayPlanner` checked).
                let commitment = commitments[call]
                compare(commitment, output.values[...], width: hp.vocabularySize, index, &tally)
                checkToken(commitment, logits: output.values, index, &tally)
            }
            guard !stage.isLast else { break }
            for commitment in commitments {
                let slice = rowSlice(
                    commitment.positions, in: step.range, width: hp.embeddingLength)
                compare(commitment, rows[slice], width: hp.embeddingLength, index, &tally)
            }
            upstream = rows
        }
        return true
    }

    private func compare(
        _ commitment: StepCommitment, _ rows: ArraySlice<Float>, width: Int, _ index: Int,
        _ tally: inout ReplayTally
    ) {
        switch FingerprintCheck.check(commitment, rows: rows, width: width, tolerance: tolerance) {
        case .compared(let distance, let failure):
            tally.compared(planned[index], distance: distance, failure: failure)
        case .unreadable(let reason):
            tally.fail(planned[index], reason)
        }
    }

    private mutating func checkToken(
        _ commitment: StepCommitment, logits: [Float], _ index: Int, _ tally: inout ReplayTally
    ) {
        let history = tokens[..<commitment.positions.upperBound]
        switch sampled.check(commitment.sampledToken, logits: logits, history: history) {
        case .agrees:
            tally.tokenChecked(planned[index], failure: nil)
        case .differs(let reason):
            tally.tokenChecked(planned[index], failure: "step \(commitment.step), \(reason)")
        case .unchecked(let reason):
            tally.tokenUnchecked(planned[index], reason: reason)
        }
    }

    /// The values of `positions`' rows within rows that start at `step`'s first position.
    private func rowSlice(_ positions: Range<Int>, in step: Range<Int>, width: Int) -> Range<Int> {
        ((positions.lowerBound - step.lowerBound) * width)..<((positions.upperBound
            - step.lowerBound) * width)
    }
}
