import Dispatch
import Inference
import Synchronization

/// How much one pass of a stage takes on.
struct BatchLimits: Sendable, Equatable {
    /// Most sessions in one pass (1: one session at a time, no batching).
    var sessions = 32
    /// Most rows (tokens) in one pass: decode tokens first, then prompt chunks up to this
    /// budget, so a long prompt is cut into chunks and the streams already decoding get a
    /// pass between chunks instead of waiting for the whole prefill (like llama.cpp's
    /// ubatch). At least `minimumChunk` prompt rows go into a pass that has a prompt waiting,
    /// so prompts progress under any decode load.
    var tokens = 64
    static let minimumChunk = 16

    /// Within what the engine takes in one pass.
    func clamped() -> BatchLimits {
        BatchLimits(
            sessions: max(1, min(sessions, TransformerStage.maxBatch)),
            tokens: max(Self.minimumChunk, min(tokens, TransformerStage.maxBatch)))
    }
}

/// The serving loop of one hosted stage, in the spirit of llama.cpp's server slots: the steps
/// of all its sessions that are waiting when the stage comes free run as one pass
/// (`TransformerStage.forward(batch:)`: weights read once per pass, each session's output
/// bit-identical to running it alone), decode tokens first, then chunks of waiting prompts
/// within the token budget. Each pass is its own job on the stage's serial queue, so other
/// work queued meanwhile runs between passes; a lone decode token that finds the loop idle
/// runs on its caller's thread instead (`runAloneIfIdle`).
final class BatchLoop: Sendable {
    struct Outcome: Sendable {
        var output: StageOutput
        /// Wall time of the passes this step ran in, and how long it waited for the first.
        var computeSeconds: Double
        var queueSeconds: Double
        /// This step's share of those passes (its rows over each pass's rows): what the
        /// speed estimates want.
        var shareSeconds: Double
        /// Most sessions that shared one of its passes, and how many passes it took.
        var batchSize: Int
        var passes: Int
    }

    /// Where a submitted step is.
    enum Phase {
        /// Nothing computed yet.
        case waiting
        /// The first `done` rows of a prompt are in the session's KV cache.
        case prefilling(done: Int)
        /// Answered (output returned, or an error) or given up by its caller.
        case finished
    }

    /// One submitted step; touched only under `state`'s lock or by the pass that holds it.
    private final class Job: @unchecked Sendable {
        let session: StageSession
        let input: StageInput
        let rows: Int
        let enqueued = ContinuousClock.now
        let continuation: CheckedContinuation<Outcome, any Error>
        var phase = Phase.waiting
        var cancelled = false
        var outcome: Outcome
        /// Middle stages: the hidden rows computed so far.
        var hidden: [Float] = []

        init(
            session: StageSession, input: StageInput, rows: Int,
            continuation: CheckedContinuation<Outcome, any Error>
        ) {
            self.session = session
            self.input = input
            self.rows = rows
            self.continuation = continuation
            outcome = Outcome(
                output: .hidden([], count: 0), computeSeconds: 0, queueSeconds: 0,
                shareSeconds: 0, batchSize: 0, passes: 0)
        }

        var done: Int {
            if case .prefilling(let done) = phase { return done }
            return 0
        }
    }

    /// A job's rows in one pass.
    private struct Piece {
        let job: Job
        let rows: Range<Int>
    }

    private struct State {
        var waiting: [Job] = []
        /// A pass is queued or running; it picks up whatever is waiting when it starts.
        var scheduled = false
    }

    let limits: BatchLimits
    private let stage: TransformerStage
    private let queue: DispatchQueue
    private let state = Mutex(State())

    init(stage: TransformerStage, queue: DispatchQueue, limits: BatchLimits = BatchLimits()) {
        self.stage = stage
        self.queue = queue
        self.limits = limits.clamped()
    }

    /// Runs `input` (one decode token, or a prompt of any length) for `session`, in as many
    /// passes as the token budget needs. A caller that is cancelled while its step waits
    /// gets CancellationError and its rows leave the queue; a pass already running finishes.
    func run(session: StageSession, input: StageInput) async throws -> Outcome {
        let rows = input.rowCount
        if rows == 1, let alone = try runAloneIfIdle(session: session, input: input) {
            return alone
        }
        let box = Mutex<Job?>(nil)
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                let job = Job(
                    session: session, input: input, rows: rows, continuation: continuation)
                box.withLock { $0 = job }
                let schedule = state.withLock { state in
                    state.waiting.append(job)
                    defer { state.scheduled = true }
                    return !state.scheduled
                }
                if schedule { queue.async { self.runPass() } }
                if Task.isCancelled { self.cancel(job) }
            }
        } onCancel: {
            if let job = box.withLock({ $0 }) { self.cancel(job) }
        }
    }

    /// A decode token that finds the loop idle (no pass queued or running, nothing waiting)
    /// runs its pass on the caller's thread at once: it could share a pass with no one, and
    /// going through the queue costs a thread wake-up to start the pass and another to resume
    /// the caller (~0.1-0.15 ms a step on a 2-core VM, on every stage of a token's path). The
    /// loop counts as busy meanwhile, so steps that arrive wait and run as one pass on the
    /// queue right after. Only single tokens: their pass is short (a few ms), a prompt's may
    /// hold a cooperative thread far longer. nil: the loop was busy.
    private func runAloneIfIdle(session: StageSession, input: StageInput) throws -> Outcome? {
        try Task.checkCancellation()
        let idle = state.withLock { state in
            guard !state.scheduled, state.waiting.isEmpty else { return false }
            state.scheduled = true
            return true
        }
        guard idle else { return nil }
        defer {
            let again = state.withLock { state in
                state.scheduled = !state.waiting.isEmpty
                return state.scheduled
            }
            if again { queue.async { self.runPass() } }
        }
        let started = ContinuousClock.now
        let output = try stage.forward(batch: [BatchStep(session: session, input: input)])[0]
        let seconds = (ContinuousClock.now - started).inSeconds
        WorkerMetrics.pass(sessions: 1, rows: 1)
        return Outcome(
            output: output, computeSeconds: seconds, queueSeconds: 0, shareSeconds: seconds,
            batchSize: 1, passes: 1)
    }

    /// Steps waiting for a pass (tests, metrics).
    var waitingCount: Int { state.withLock { $0.waiting.count } }

    private func cancel(_ job: Job) {
        let remove = state.withLock { state -> Bool in
            job.cancelled = true
            guard let index = state.waiting.firstIndex(where: { $0 === job }) else { return false }
            // A job in a running pass is not in `waiting` now; that pass resumes it.
            state.waiting.remove(at: index)
            return true
        }
        if remove { finish(job, .failure(CancellationError())) }
    }

    /// One pass over what is waiting now; schedules the next pass behind any other job.
    private func runPass() {
        let pieces = state.withLock { state in
            let pieces = select(from: state.waiting)
            let taken = Set(pieces.map { ObjectIdentifier($0.job) })
            state.waiting.removeAll { taken.contains(ObjectIdentifier($0)) }
            return pieces
        }
        if !pieces.isEmpty { run(pieces) }
        let (again, abandoned) = state.withLock { state in
            // Unfinished prompts go back to the front, in their order: they keep their turn.
            // One whose caller gave up meanwhile is answered here (its cancel found it out of
            // the queue).
            var unfinished: [Job] = []
            var abandoned: [Job] = []
            for job in pieces.map(\.job) {
                guard case .prefilling = job.phase else { continue }
                if job.cancelled { abandoned.append(job) } else { unfinished.append(job) }
            }
            state.waiting.insert(contentsOf: unfinished, at: 0)
            state.scheduled = !state.waiting.isEmpty
            return (state.scheduled, abandoned)
        }
        for job in abandoned { finish(job, .failure(CancellationError())) }
        if again { queue.async { self.runPass() } }
    }

    /// Decode tokens first (up to the session limit), then prompt chunks in arrival order
    /// within the token budget.
    private func select(from waiting: [Job]) -> [Piece] {
        var pieces: [Piece] = []
        var rows = 0
        for job in waiting where job.rows - job.done == 1 && pieces.count < limits.sessions {
            pieces.append(Piece(job: job, rows: job.done..<job.rows))
            rows += 1
        }
        var budget = max(limits.tokens - rows, BatchLimits.minimumChunk)
        budget = min(budget, TransformerStage.maxBatch - rows)
        for job in waiting where job.rows - job.done > 1 {
            guard budget > 0, pieces.count < limits.sessions else { break }
            let chunk = min(job.rows - job.done, budget)
            pieces.append(Piece(job: job, rows: job.done..<(job.done + chunk)))
            budget -= chunk
        }
        return pieces
    }

    private func run(_ pieces: [Piece]) {
        let started = ContinuousClock.now
        let steps = pieces.map {
            BatchStep(session: $0.job.session, input: $0.job.input.rows($0.rows))
        }
        let outputs: [Result<StageOutput, any Error>]
        do {
            outputs = try stage.forward(batch: steps).map { .success($0) }
        } catch {
            // A step the pass refused (the engine checks all before computing any) fails
            // alone: the others run one by one.
            outputs = steps.map { step in Result { try stage.forward(batch: [step])[0] } }
        }
        let seconds = (ContinuousClock.now - started).inSeconds
        let totalRows = pieces.reduce(0) { $0 + $1.rows.count }
        WorkerMetrics.pass(sessions: pieces.count, rows: totalRows)
        for (piece, output) in zip(pieces, outputs) {
            let job = piece.job
            if job.outcome.passes == 0 {
                job.outcome.queueSeconds = (started - job.enqueued).inSeconds
            }
            job.outcome.passes += 1
            job.outcome.computeSeconds += seconds
            job.outcome.shareSeconds += seconds * Double(piece.rows.count) / Double(totalRows)
            job.outcome.batchSize = max(job.outcome.batchSize, pieces.count)
            switch output {
            case .failure(let error):
                job.phase = .finished
                finish(job, .failure(error))
            case .success(let output):
                if case .hidden(let values, _) = output { job.hidden += values }
                guard piece.rows.upperBound == job.rows else {
                    job.phase = .prefilling(done: piece.rows.upperBound)
                    continue
                }
                if case .hidden = output {
                    job.outcome.output = .hidden(job.hidden, count: job.rows)
                } else {
                    job.outcome.output = output
                }
                job.phase = .finished
                finish(job, .success(job.outcome))
            }
        }
    }

    private func finish(_ job: Job, _ result: Result<Outcome, any Error>) {
        job.phase = .finished
        job.continuation.resume(with: result)
    }
}

extension StageInput {
    var rowCount: Int {
        switch self {
        case .tokens(let tokens): tokens.count
        case .hidden(_, let count): count
        }
    }

    /// Rows `range` of this input.
    func rows(_ range: Range<Int>) -> StageInput {
        switch self {
        case .tokens(let tokens):
            return .tokens(Array(tokens[range]))
        case .hidden(let values, let count):
            let width = values.count / max(count, 1)
            return .hidden(
                Array(values[(range.lowerBound * width)..<(range.upperBound * width)]),
                count: range.count)
        }
    }
}
