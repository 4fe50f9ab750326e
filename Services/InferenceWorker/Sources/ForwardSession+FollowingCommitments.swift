import Integrity

/// Commitments that follow their direct step (docs/generation-protocol.md, "Direct answers").
///
/// A direct step carried each stage's signed commitment inside the step, so a stage signed
/// before it could send: 0.14-0.18 ms on every hop's path, right after a pass has pushed
/// the signing code out of the caches. Now a stage whose next stage takes them sends the step
/// first, then signs, and sends the commitments of the stages so far in a message of their
/// own. They reach each stage while it computes, in the stream's order right behind the step,
/// and a stage handles them once its step is done; the last stage answers when they are in.
/// A stream reads one message at a time, so the step after can only come after them.
enum AwaitedCommitments {
    /// A stage with a next stage: send them on with this stage's own after them.
    case sendOn(step: UInt64, own: [StepCommitment])
    /// The last stage: answer with them before its own (`result.commitments`).
    case answer(StepResult)

    var step: UInt64 {
        switch self {
        case .sendOn(let step, _): step
        case .answer(let result): result.step
        }
    }
}

extension ForwardSession {
    /// The commitments of the stages before this one to the direct step it awaits them for.
    func receive(_ following: FollowingCommitments) async throws {
        guard let awaiting = awaitingCommitments else {
            throw WorkerError.invalidRequest(
                "commitments to step \(following.step) came, but no step of this session awaits "
                    + "them (they follow a direct step sent with commitments_follow)")
        }
        guard awaiting.step == following.step else {
            throw WorkerError.invalidRequest(
                "commitments to step \(following.step) came, but step \(awaiting.step) awaits them")
        }
        awaitingCommitments = nil
        switch awaiting {
        case .sendOn(let step, let own):
            try await sendOn(
                FollowingCommitments(step: step, commitments: following.commitments + own))
        case .answer(var result):
            result.commitments = following.commitments + result.commitments
            environment.answers.post(result, session: id)
        }
    }

    /// Sends the commitments to a direct step already sent to the next stage.
    func sendOn(_ following: FollowingCommitments) async throws {
        guard let downstream else {
            throw WorkerError.internalFailure("the last stage has no next stage to commit to")
        }
        WorkerMetrics.hop(bytes: try await downstream.send(following))
    }
}
