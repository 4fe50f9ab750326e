import Inference
import Integrity

/// One attempt's pipeline, rebuilt: per stage the shard's stage and a fresh session (its KV
/// cache), and the last stage's sampler state, as the attempt's workers held them.
struct AttemptReplay {
    let planned: [PlannedStage]
    let stages: [ReplayStage]
    let sessions: [StageSession]
    /// The receipt's tokens: the prompt, then the output.
    let tokens: [Int32]
    let tolerance: FingerprintTolerance
    var sampled: SampledTokenCheck

    /// Sessions hold `contextLength` tokens: as many as the attempt's steps reach.
    init(
        planned: [PlannedStage], stages: [ReplayStage], contextLength: Int, tokens: [Int32],
        tolerance: FingerprintTolerance, sampled: SampledTokenCheck
    ) throws {
        self.planned = planned
        self.stages = stages
        // f16 keys and values, as the workers keep them.
        sessions = try stages.map {
            try $0.stage.makeSession(contextLength: max(1, contextLength), precision: .f16)
        }
        self.tokens = tokens
        self.tolerance = tolerance
        self.sampled = sampled
    }

    /// One call of a stage, as the worker makes it: rewinds when the call starts before what
    /// the session holds. However the worker batched or chunked the call, the engine's
    /// row-wise path gives the same bits as this call alone.
    func forward(_ index: Int, _ input: StageInput, at position: Int, count: Int, replay: Bool)
        throws -> StageOutput
    {
        let stage = stages[index].stage
        let session = sessions[index]
        guard position <= session.position else {
            throw StepError(
                "a call at position \(position) but the session holds \(session.position) tokens")
        }
        if position < session.position { session.truncate(to: position) }  // rewind
        return try stage.forward(input, session: session)
    }

    struct StepError: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }
}
