import Foundation
import Inference
import Integrity

/// The signed statements this stage makes about what it computed (docs/verification.md,
/// "Commitments"). The verifier chains and replays them, so their content is exact:
/// - a stage that sends on commits once per message it sends (a long prefill goes in pieces):
///   the piece's rows, the digest of its input rows (token ids at the first stage), the digest
///   of the output rows as the next stage will decode them, and their fingerprint;
/// - the last stage commits once per step it receives: the digest of its input, of the token
///   it sampled, and the fingerprint of the last position's logits.
extension ForwardSession {
    /// Rows `rows` of `step`, sent on as `output` (their hidden states, as computed).
    func hopCommitment(
        _ step: StageStep, rows: Range<Int>, output: ArraySlice<Float>, faults: StepFaults
    ) -> StepCommitment {
        // The next stage digests what it decodes: in f16, the values rounded to half precision.
        let outputDigest =
            activation == .f16
            ? Digests.floats(output.map { Float(Float16($0)) }) : Digests.floats(output)
        return commitment(
            step, rows: rows, outputDigest: outputDigest,
            fingerprint: ActivationFingerprint(
                values: output, width: shard.hyperparameters.embeddingLength),
            sampledToken: nil, faults: faults)
    }

    /// What this stage says of a direct step it sends on whole (`output`, its hidden states).
    func directCommitments(_ step: StageStep, output: HiddenStates, faults: StepFaults)
        -> [StepCommitment]
    {
        ownCommitments(
            [
                hopCommitment(
                    step, rows: 0..<output.rows, output: output.values[...], faults: faults)
            ],
            faults: faults)
    }

    /// The last stage's commitment to `step`: `token`, sampled from the last position's logits
    /// (`fingerprint`).
    func lastStageCommitment(
        _ step: StageStep, fingerprint: ActivationFingerprint, token: Int32, faults: StepFaults
    ) -> StepCommitment {
        commitment(
            step, rows: 0..<step.tokens.count, outputDigest: StepCommitment.tokenDigest(token),
            fingerprint: fingerprint, sampledToken: token, faults: faults)
    }

    /// What goes into the reply for this stage: `made`, or with `replayCommitment` on, the
    /// session's first step's commitments once more.
    func ownCommitments(_ made: [StepCommitment], faults: StepFaults) -> [StepCommitment] {
        guard environment.faults?.replaysCommitments == true else { return made }
        guard let first = firstCommitments else {
            firstCommitments = made
            return made
        }
        return faults.replayCommitment ? first : made
    }

    private func commitment(
        _ step: StageStep, rows: Range<Int>, outputDigest: [UInt8],
        fingerprint: ActivationFingerprint, sampledToken: Int32?, faults: StepFaults
    ) -> StepCommitment {
        var commitment = StepCommitment(
            workerID: environment.state.workerID, sessionID: id, step: step.step,
            layers: shard.layers, shardSHA256: shard.ref.sha256,
            position: step.position + rows.lowerBound, count: rows.count,
            inputDigest: inputDigest(step, rows: rows), outputDigest: outputDigest,
            fingerprint: fingerprint.encoded, isLastStage: sampledToken != nil,
            sampledToken: sampledToken ?? 0, replay: step.replay,
            arithmetic: EngineArithmetic.version,
            unixMilliseconds: Int64((Date().timeIntervalSince1970 * 1000).rounded()))
        commitment.sign(with: faults.signingIdentity ?? environment.identity)
        return commitment
    }

    /// The step's token ids at the first stage, else its hidden rows as this stage decoded
    /// them (the bytes the previous stage's output digest covers).
    private func inputDigest(_ step: StageStep, rows: Range<Int>) -> [UInt8] {
        guard !shard.stage.isFirst, let hidden = step.hidden else {
            return Digests.tokens(step.tokens[rows])
        }
        let width = shard.hyperparameters.embeddingLength
        return Digests.floats(hidden.values[(rows.lowerBound * width)..<(rows.upperBound * width)])
    }
}
