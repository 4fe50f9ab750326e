import Dispatch
import Inference
import Synchronization

/// Continuous batching at one hosted stage: the decode steps of all its sessions that are
/// waiting when the stage comes free run as one pass (`TransformerStage.forward(decoding:)`,
/// bit-identical to running each alone), so the stage reads its weights once per pass
/// instead of once per session. A pass takes at most `maxBatch` steps; each pass is its own
/// job on the stage's serial queue, so a prefill queued meanwhile runs before the next pass
/// rather than waiting for the decode traffic to stop.
final class DecodeBatcher: Sendable {
    struct Outcome: Sendable {
        var output: StageOutput
        /// Wall time of the pass this step ran in, and how long it waited for it.
        var computeSeconds: Double
        var queueSeconds: Double
        /// Sessions that shared the pass.
        var batchSize: Int
    }

    private struct Waiting: Sendable {
        let step: DecodeStep
        let enqueued: ContinuousClock.Instant
        let continuation: CheckedContinuation<Outcome, any Error>
    }

    private struct State {
        var waiting: [Waiting] = []
        /// A pass is queued or running; it picks up whatever is waiting when it starts.
        var scheduled = false
    }

    let maxBatch: Int
    private let stage: TransformerStage
    private let queue: DispatchQueue
    private let state = Mutex(State())

    init(stage: TransformerStage, queue: DispatchQueue, maxBatch: Int = 32) {
        self.stage = stage
        self.queue = queue
        self.maxBatch = max(1, min(maxBatch, TransformerStage.maxBatch))
    }

    func decode(_ step: DecodeStep) async throws -> Outcome {
        try await withCheckedThrowingContinuation { continuation in
            let schedule = state.withLock { state in
                state.waiting.append(
                    Waiting(step: step, enqueued: .now, continuation: continuation))
                defer { state.scheduled = true }
                return !state.scheduled
            }
            if schedule { queue.async { self.runPass() } }
        }
    }

    /// One pass over the steps waiting now; schedules the next pass behind any other job.
    private func runPass() {
        let batch = state.withLock { state in
            let batch = Array(state.waiting.prefix(maxBatch))
            state.waiting.removeFirst(batch.count)
            return batch
        }
        if !batch.isEmpty { run(batch) }
        let again = state.withLock { state in
            state.scheduled = !state.waiting.isEmpty
            return state.scheduled
        }
        if again { queue.async { self.runPass() } }
    }

    private func run(_ batch: [Waiting]) {
        let started = ContinuousClock.now
        do {
            let outputs = try stage.forward(decoding: batch.map(\.step))
            let seconds = (ContinuousClock.now - started).inSeconds
            WorkerMetrics.batch(size: batch.count)
            for (waiting, output) in zip(batch, outputs) {
                waiting.continuation.resume(
                    returning: Outcome(
                        output: output, computeSeconds: seconds,
                        queueSeconds: (started - waiting.enqueued).inSeconds,
                        batchSize: batch.count))
            }
        } catch {
            // A step the batch refused fails alone: the others run one by one.
            for waiting in batch {
                let alone = ContinuousClock.now
                waiting.continuation.resume(
                    with: Result {
                        let output = try stage.forward(
                            waiting.step.input, session: waiting.step.session)
                        return Outcome(
                            output: output, computeSeconds: (ContinuousClock.now - alone).inSeconds,
                            queueSeconds: (started - waiting.enqueued).inSeconds, batchSize: 1)
                    })
            }
        }
    }
}
