import Foundation
import Inference
import Integrity
import Synchronization

/// The runtime faults of one worker (`WorkerFaults`), shared by its sessions: which of them
/// hold for each step it serves, and what they do to the step's output and commitments.
final class FaultInjector: Sendable {
    let faults: WorkerFaults
    /// What `forgeSignature` signs with instead of the registered key.
    let forgedIdentity = SigningIdentity()
    private let counters = Mutex(Counters())

    private struct Counters {
        /// Steps served (all sessions), and last-stage steps served with the faults on.
        var served = 0
        var faultyLastStageSteps = 0
    }

    init(_ faults: WorkerFaults) {
        self.faults = faults
    }

    /// Sessions keep their first step's commitments to send them again later.
    var replaysCommitments: Bool { faults.faults.contains(.replayCommitment) }

    /// The faults for the step this worker is about to run (counted once per step received).
    func nextStep(isLastStage: Bool) -> StepFaults {
        let (active, lastStageIndex) = counters.withLock { counters -> (Bool, Int?) in
            defer { counters.served += 1 }
            guard counters.served >= faults.after else { return (false, nil) }
            guard isLastStage else { return (true, nil) }
            defer { counters.faultyLastStageSteps += 1 }
            return (true, counters.faultyLastStageSteps)
        }
        var step = StepFaults()
        guard active else { return step }
        for fault in faults.faults {
            switch fault {
            case .noise(let relative): step.noise = relative
            case .tamperOutput: step.tamperOutput = true
            case .wrongTokenEvery(let every):
                if let lastStageIndex { step.wrongToken = (lastStageIndex + 1) % every == 0 }
            case .forgeSignature: step.signingIdentity = forgedIdentity
            case .replayCommitment: step.replayCommitment = true
            case .tamperPrompt: step.tamperPrompt = true
            case .skipLayer, .lowBit, .swapLayers: break  // in the weights (ShardWeightFaults)
            }
        }
        return step
    }

    /// Adds N(0, (relative × RMS of the row)²) to every value, row by row.
    static func addNoise(_ values: inout [Float], width: Int, relative: Double) {
        var generator = SystemRandomNumberGenerator()
        RelativeNoise.add(to: &values, width: width, relative: relative, using: &generator)
    }

    /// Changes one value of a message to the next stage: its first, by at least 1.
    static func tamper(_ hidden: inout HiddenStates) {
        guard !hidden.values.isEmpty else { return }
        hidden.values[0] += max(1, abs(hidden.values[0]))
    }

    /// The input a stage computes on: the one it received, or with `tamperPrompt` at the first
    /// stage, another first token (the next id in the vocabulary).
    static func input(_ received: StageInput, faults: StepFaults, vocabularySize: Int)
        -> StageInput
    {
        guard faults.tamperPrompt, case .tokens(var tokens) = received, !tokens.isEmpty else {
            return received
        }
        tokens[0] = (tokens[0] + 1) % Int32(vocabularySize)
        return .tokens(tokens)
    }

    /// The most likely token other than `token` (the runner-up when `token` is the argmax).
    static func otherToken(than token: Int32, logits: [Float]) -> Int32 {
        var best: Int?
        for index in logits.indices where index != Int(token) {
            if best.map({ logits[index] > logits[$0] }) ?? true { best = index }
        }
        return Int32(best ?? 0)
    }
}

/// Which runtime faults hold for one step; all off for an honest step.
struct StepFaults: Sendable {
    var noise: Double?
    var tamperOutput = false
    var wrongToken = false
    /// Signs this step's commitments instead of the worker's registered key.
    var signingIdentity: SigningIdentity?
    var replayCommitment = false
    /// The first stage embeds another first token than the one it was sent (and commits to).
    var tamperPrompt = false
}
