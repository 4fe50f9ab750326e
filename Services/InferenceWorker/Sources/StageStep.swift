import Integrity

/// One step of a session as a stage receives it: tokens at a position and, for every stage
/// but the first, the previous stage's hidden states for them.
struct StageStep: Sendable {
    var step: UInt64
    /// Position of the step's first token in the sequence.
    var position: Int
    /// The step's tokens (embedded by the first stage; kept by the last for penalties).
    var tokens: [Int32]
    var hidden: HiddenStates?
    /// Last stage: also return the full logits of the last position.
    var returnLogits = false
    /// Earlier output resent: computed token by token as decode steps were (bit-identical).
    var replay = false
    /// The last stage answers on the session's `Answers` stream, the others not at all: each
    /// stage sends its timing and commitments on down with the step (`upstream`).
    var answerDirectly = false
    /// With `answerDirectly`: what the stages before this one said about the step, in order.
    var upstream = UpstreamReport()
    /// With `answerDirectly`: the stages before commit in a `FollowingCommitments` message
    /// right after this step, not in `upstream.commitments`.
    var commitmentsFollow = false
}

/// The signed commitments of the stages before the receiver to one direct step, in order,
/// sent after the step (`StageStep.commitmentsFollow`): a stage signs its commitment once
/// the step is on its way, so the signature is off the step's path.
struct FollowingCommitments: Sendable {
    var step: UInt64
    var commitments: [StepCommitment]
}

/// The timings and commitments of the stages a direct step went through, carried down to
/// the last stage, which answers with them as a relayed reply would have.
struct UpstreamReport: Sendable {
    var timings: [StageTiming] = []
    var commitments: [StepCommitment] = []
}

/// Hidden states between stages: `rows` rows of the model's width, row-major.
struct HiddenStates: Sendable {
    var values: [Float]
    var rows: Int
}

/// What one stage did for one step, for the scheduler's estimates and the caller's view.
struct StageTiming: Sendable, Equatable {
    var workerID: String
    var computeSeconds = 0.0
    /// Until the next stage answered, minus its own time.
    var sendSeconds = 0.0
    var bytesSent: UInt64 = 0
    /// Waited for the stage's compute (other sessions' steps).
    var queueSeconds = 0.0

    /// Per-stage sums of two timing lists of the same pipeline (the pieces of one step).
    static func sum(_ extra: [StageTiming], _ base: [StageTiming]) -> [StageTiming] {
        guard !base.isEmpty else { return extra }
        var sum = base
        for index in sum.indices where index < extra.count {
            sum[index].computeSeconds += extra[index].computeSeconds
            sum[index].sendSeconds += extra[index].sendSeconds
            sum[index].bytesSent += extra[index].bytesSent
        }
        return sum
    }
}

/// The pipeline's answer to a step: the token the last stage sampled, each stage's timing
/// (first stage first) and the stages' signed commitments to what they computed.
struct StepResult: Sendable {
    var step: UInt64
    var token: Int32
    /// The sampled token's log-probability under the raw logits; 0 unless top logits were
    /// asked for (the session's `topLogits` > 0).
    var tokenLogprob: Float = 0
    /// The highest raw logits with their log-probabilities.
    var topLogits: [(id: Int32, logit: Float, logprob: Float)]
    /// The last position's logits, when the step asked for them.
    var logits: [Float] = []
    var timings: [StageTiming] = []
    /// This stage's commitments (one per message it sent on, or one for the step at the last
    /// stage), then the next stages' in the order of the pieces they answered.
    var commitments: [StepCommitment] = []
    /// The stage that replied and every stage after it take `commitmentsFollow` on direct
    /// steps (false from workers that predate it).
    var takesFollowingCommitments = false
}
