import Inference
import Logging

/// Where one generation stands, like llama.cpp's slot states for a request that runs on a
/// pipeline it leases (docs/generation-protocol.md, "Generation").
enum GenerationPhase: Sendable, Equatable {
    /// Asking the scheduler for a ready pipeline (waiting while there is none).
    case leasing
    /// The prompt runs through a fresh session on the leased pipeline.
    case prefilling
    /// One step per token; each token goes to the client as it comes.
    case decoding
    /// A stage failed: it is reported and avoided, and another pipeline leased.
    case failingOver
    /// A new session catches up with the prompt and the tokens the client already has.
    case replaying
    case finished(FinishReason)
}

/// Everything a generation has done so far: what survives a failover and what the summary
/// reports. Owned by the generation's task.
struct GenerationProgress {
    private(set) var phase = GenerationPhase.leasing
    /// Tokens this request may still generate in all: max_tokens, or less when the context is the limit.
    var budget: Int
    var stop: StopCondition
    var generated: [Int32] = []
    /// Workers that failed this request; the next lease avoids them.
    var avoided: Set<String> = []
    var summary: GenerationSummary
    let started = ContinuousClock.now
    var lastTokenAt = ContinuousClock.now
    /// Since when the client has been waiting because a pipeline failed.
    var pausedSince: ContinuousClock.Instant?
    /// Times a stage refused the session for want of capacity (`PipelineFailure.busy`).
    var busyRefusals = 0
    /// The commitments of every reply so far, and the stages that made them.
    var ledger = ReceiptLedger()

    /// Keeps a reply's commitments for the receipt (the attempt is the failovers so far).
    mutating func record(_ reply: StepReply) {
        ledger.record(reply.commitments, attempt: summary.failovers)
    }

    mutating func enter(_ next: GenerationPhase, logger: Logger) {
        guard next != phase else { return }
        logger.trace(
            "generation phase",
            metadata: ["from": "\(phase)", "to": "\(next)", "generated": "\(generated.count)"])
        phase = next
    }
}
