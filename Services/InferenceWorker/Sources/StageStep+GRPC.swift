import Integrity
import TesseraProto

// Steps, results, timings and commitments of the `Forward` stream as the wire carries them.
// Hidden states are decoded and encoded here (TensorCoding), with the model's width checked.

extension StageStep {
    init(_ wire: Tessera_V1_ForwardStep, width: Int) throws {
        self.init(
            step: wire.step, position: Int(wire.position), tokens: wire.tokens,
            hidden: wire.hasHidden
                ? try HiddenStates(TensorCoding.decode(wire.hidden, width: width)) : nil,
            returnLogits: wire.returnLogits, replay: wire.replay,
            answerDirectly: wire.answerDirectly,
            upstream: UpstreamReport(
                timings: wire.upstreamTimings.map(StageTiming.init),
                commitments: wire.upstreamCommitments.map(\.domain)),
            commitmentsFollow: wire.commitmentsFollow)
    }
}

extension FollowingCommitments {
    init(_ wire: Tessera_V1_FollowingCommitments) {
        self.init(step: wire.step, commitments: wire.commitments.map(\.domain))
    }
}

extension Tessera_V1_FollowingCommitments {
    init(_ following: FollowingCommitments) {
        self.init()
        step = following.step
        commitments = following.commitments.map(Tessera_V1_Commitment.init)
    }
}

extension HiddenStates {
    init(_ decoded: (values: [Float], rows: Int)) {
        self.init(values: decoded.values, rows: decoded.rows)
    }
}

extension Tessera_V1_ForwardStep {
    init(_ step: StageStep, width: Int, encoding: ActivationEncoding) {
        self.init()
        self.step = step.step
        position = UInt32(step.position)
        tokens = step.tokens
        if let hidden = step.hidden {
            self.hidden = TensorCoding.encode(
                hidden.values, rows: hidden.rows, width: width, as: encoding)
        }
        returnLogits = step.returnLogits
        replay = step.replay
        answerDirectly = step.answerDirectly
        upstreamTimings = step.upstream.timings.map(Tessera_V1_StageTiming.init)
        upstreamCommitments = step.upstream.commitments.map(Tessera_V1_Commitment.init)
        commitmentsFollow = step.commitmentsFollow
    }
}

extension StageTiming {
    init(_ wire: Tessera_V1_StageTiming) {
        self.init(
            workerID: wire.workerID, computeSeconds: wire.computeSeconds,
            sendSeconds: wire.sendSeconds, bytesSent: wire.bytesSent,
            queueSeconds: wire.queueSeconds)
    }
}

extension Tessera_V1_StageTiming {
    init(_ timing: StageTiming) {
        self.init()
        workerID = timing.workerID
        computeSeconds = timing.computeSeconds
        sendSeconds = timing.sendSeconds
        bytesSent = timing.bytesSent
        queueSeconds = timing.queueSeconds
    }
}

extension StepResult {
    init(_ wire: Tessera_V1_ForwardResponse) {
        self.init(
            step: wire.step, token: wire.token, tokenLogprob: wire.tokenLogprob,
            topLogits: wire.topLogits.map { (id: $0.token, logit: $0.logit, logprob: $0.logprob) },
            logits: wire.logits,
            timings: wire.timings.map(StageTiming.init),
            commitments: wire.commitments.map(\.domain),
            takesFollowingCommitments: wire.takesFollowingCommitments)
    }
}

extension Tessera_V1_ForwardResponse {
    /// The reply to a step. The last stage (`measuringLastStage`) also reports the bytes the
    /// reply itself puts on the wire as its timing's `bytes_sent`.
    init(_ result: StepResult, measuringLastStage: Bool) {
        self.init()
        step = result.step
        token = result.token
        tokenLogprob = result.tokenLogprob
        topLogits = result.topLogits.map {
            Tessera_V1_TokenLogit(token: $0.id, logit: $0.logit, logprob: $0.logprob)
        }
        logits = result.logits
        takesFollowingCommitments = result.takesFollowingCommitments
        var timings = result.timings
        // The last stage's own timing is the last (the only one, unless answering directly).
        if measuringLastStage, !timings.isEmpty {
            timings[timings.count - 1].bytesSent = UInt64(wireSize)
        }
        self.timings = timings.map(Tessera_V1_StageTiming.init)
        commitments = result.commitments.map(Tessera_V1_Commitment.init)
    }
}
