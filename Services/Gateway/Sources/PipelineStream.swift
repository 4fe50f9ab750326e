import GRPCCore
import Inference
import Integrity
import ServiceKit
import Synchronization
import TesseraProto
import Tracing

/// What a new `Forward` session on a pipeline needs.
struct SessionRequest: Sendable {
    var sessionID: String
    var route: PipelineRoute
    /// Tokens the session may hold (prompt and output).
    var contextLength: Int
    var sampling: SamplingParameters
    /// Where the output starts (the prompt's length): a replay resends earlier output, and
    /// the last stage's response format applies from here.
    var outputStart: Int
    var topLogits: Int
    /// Sent with the call (`x-request-id`), so the workers' log lines carry it.
    var requestID: String
    /// Decode steps are answered by the last stage straight to the gateway (pipelines of
    /// two stages or more; docs/generation-protocol.md, "Direct answers").
    var directAnswers = false
}

/// A stage's answer to one step: the token the last stage sampled.
struct StepReply: Sendable {
    var step: UInt64
    var token: Int32
    /// The sampled token's log-probability (reported when top logits were asked for).
    var tokenLogprob: Float = 0
    var topLogits: [TokenLogit]
    /// Every stage's signed statement about this step, first stage first (for the receipt).
    var commitments: [StepCommitment] = []
}

/// What the gateway hears from a pipeline: replies (relayed up the `Forward` stream or sent
/// straight from the last stage on its `Answers` stream), and the end of the `Answers` stream.
/// The `Forward` stream's end ends the sequence.
enum PipelineEvent: Sendable {
    case reply(Tessera_V1_ForwardResponse)
    /// nil: ended OK (the last stage's session ended; the `Forward` stream says why).
    case answersEnded(RPCError?)
}

/// One `Forward` session through a pipeline, seen from the gateway: it talks to stage 0,
/// which opens the hops after it. `send` writes a step, `receive` waits for a step's reply
/// (steps are answered in order). Owned by one generation task; not shared. The generation
/// writes its steps itself on the call's request writer (no task in between to wake).
///
/// Decode steps of a pipeline of several stages are answered directly: the last stage sends
/// the answer on an `Answers` stream the gateway opened to it, so a token crosses S + 1
/// hops instead of 2S. Every `relayEvery`-th step, prompts and replays still come back up
/// the chain (the stages time their links on relayed steps; a prompt may need several
/// messages per hop). Failures still come up the chain, which names the stage that failed.
///
/// This is the gRPC edge of a generation: stage failures come out as `PipelineFailure`
/// (another pipeline can recover) or `GatewayError` (the request itself is at fault).
final class PipelineStream {
    /// One step in this many goes relayed, so the stages keep timing their links.
    static let relayEvery: UInt64 = 16

    private let forward: ForwardCall
    private var events: AsyncThrowingStream<PipelineEvent, any Error>.AsyncIterator
    private let watch: StepWatch
    private let route: PipelineRoute
    private let calls: BackgroundWork
    /// The last stage's `Answers` call (nil: every step is relayed).
    private let answers: AnswersCall?
    private var nextStep: UInt64 = 0
    /// Steps sent to be answered directly and not yet received.
    private var directSteps: Set<UInt64> = []
    /// How the `Answers` stream failed, once it has.
    private var answersFailure: RPCError?

    private init(
        forward: ForwardCall,
        events: AsyncThrowingStream<PipelineEvent, any Error>, watch: StepWatch,
        route: PipelineRoute, calls: BackgroundWork, answers: AnswersCall?
    ) {
        self.forward = forward
        self.events = events.makeAsyncIterator()
        self.watch = watch
        self.route = route
        self.calls = calls
        self.answers = answers
    }

    /// Opens the session and runs `body` with it. The gRPC call runs on `calls`, a service
    /// of the gateway's own (not on the generation's task: a call to a stopped worker may not
    /// end until the worker does, and the generation must not wait for it to fail over).
    /// When `body` returns after `close()` the call ends normally (the workers free the
    /// session's KV caches); when `body` throws or is cancelled (a client that left) the call
    /// is cancelled. A step not answered within its `stall` limit has the stages' health
    /// checked: if one does not answer (a stopped, hung or cut-off stage), the step fails at
    /// once as DEADLINE_EXCEEDED naming it, a failure like any other; if all answer, the
    /// pipeline is busy, not stalled, and the step gets another limit (up to the cap).
    static func run<Result>(
        _ session: SessionRequest, workers: ClientPool, calls: BackgroundWork, stall: StallPolicy,
        body: (PipelineStream) async throws -> Result
    ) async throws -> Result {
        let client = Tessera_V1_InferenceWorker.Client(
            wrapping: try workers.client(for: session.route.stages[0].address))
        let (eventStream, events) = AsyncThrowingStream.makeStream(of: PipelineEvent.self)
        // The calls run on another task: they carry the session's trace context there, for
        // the client interceptor to send to the workers.
        let traceContext = ServiceContext.current
        var answers: AnswersCall?
        if session.directAnswers, session.route.stages.count > 1,
            let last = session.route.stages.last
        {
            // Opened first; the last stage keeps answers that come before it (AnswerBoard).
            let call = AnswersCall(
                client: Tessera_V1_InferenceWorker.Client(
                    wrapping: try workers.client(for: last.address)),
                sessionID: session.sessionID, events: events, requestID: session.requestID)
            calls.submit { await ServiceContext.withValue(traceContext) { await call.run() } }
            answers = call
        }
        let watch = StepWatch(
            policy: stall, predictedSecondsPerToken: session.route.predictedSecondsPerToken)
        let call = ForwardCall(
            client: client, open: .with { $0.open = Tessera_V1_SessionOpen(session) },
            events: events, watch: watch,
            liveness: StageLiveness(stages: session.route.stages, calls: calls),
            requestID: session.requestID)
        calls.submit { await ServiceContext.withValue(traceContext) { await call.run() } }
        let stream = PipelineStream(
            forward: call, events: eventStream, watch: watch, route: session.route,
            calls: calls, answers: answers)
        // Every answer is in when `body` ends; the last stage's session ends anyway.
        defer { answers?.abandon() }
        do {
            let result = try await body(stream)
            stream.close()  // (again: closing twice is harmless)
            return result
        } catch {
            call.requests.close()
            call.abandon()
            throw error
        }
    }

    /// Writes one step without waiting for its reply, so a replay of many tokens does not pay
    /// a round trip per token. Returns its step number.
    @discardableResult
    func send(position: Int, tokens: [Int32], replay: Bool = false) async -> UInt64 {
        let step = nextStep
        nextStep += 1
        // A decode token, while the last stage's Answers stream has not ended.
        let direct =
            answers?.hasEnded == false && tokens.count == 1 && !replay
            && step % Self.relayEvery != 0
        if direct { directSteps.insert(step) }
        watch.sent(step, tokens: tokens.count)
        await write(
            .with {
                $0.step = .with {
                    $0.step = step
                    $0.position = UInt32(position)
                    $0.tokens = tokens
                    $0.replay = replay
                    $0.answerDirectly = direct
                }
            }, step: step)
        return step
    }

    /// Never throws, as a write to the call's stream did not: a call that ended says why in
    /// the events `receive` reads. A write that fails while the call goes on ends the call
    /// with that failure, as a failing request producer would.
    private func write(_ request: Tessera_V1_ForwardRequest, step: UInt64) async {
        // None: the call ended before it was up (or this task was cancelled).
        guard let writer = try? await forward.requests.writer() else { return }
        do {
            try await writer.write(request)
        } catch {
            if error is CancellationError || Task.isCancelled { return }
            forward.events.finish(
                throwing: RPCError(
                    code: .unavailable,
                    message: "step \(step) could not be written to the first stage: \(error)",
                    cause: error))
            forward.abandon()
        }
    }

    /// The reply to `step`, which must be the next one unanswered.
    func receive(_ step: UInt64) async throws -> StepReply {
        watch.awaiting(step)
        defer { watch.answered() }
        let direct = directSteps.remove(step) != nil
        while true {
            if direct, let failure = answersFailure { throw lastStageFailure(failure) }
            let event: PipelineEvent?
            do {
                event = try await events.next()
            } catch {
                try Task.checkCancellation()
                throw await blamingStalledStage(Self.failure(error))
            }
            try Task.checkCancellation()
            switch event {
            case nil:
                throw Self.failure(
                    RPCError(
                        code: .unavailable,
                        message: "the pipeline closed the stream before answering step \(step)"))
            case .reply(let response)?:
                // In step order across both streams: only decode steps go direct, and each is
                // sent once the step before it was answered.
                guard response.step == step else {
                    throw Self.failure(
                        RPCError(
                            code: .internalError,
                            message:
                                "the pipeline answered step \(response.step), expected \(step)"))
                }
                return Self.reply(response)
            case .answersEnded(let error)?:
                // Ended OK: the last stage's session ended, and the Forward stream will say
                // why (a stage before it failed). UNIMPLEMENTED: a worker without direct
                // answers, which relays every step (it ignores answer_directly).
                if let error, error.code != .unimplemented { answersFailure = error }
            }
        }
    }

    /// The last stage's Answers stream failed while a direct answer was due: the stage (or
    /// the way to it) is what failed, unless the error names another.
    private func lastStageFailure(_ error: RPCError) -> any Error {
        if error.metadata[stringValues: MetadataKeys.failedWorker].contains(where: { _ in true }) {
            return Self.failure(error)
        }
        let last = route.stages[route.stages.count - 1]
        return Self.failure(
            RPCError(
                code: .unavailable,
                message:
                    "the last stage \(last.workerID) stopped answering: \(error.code): \(error.message)",
                metadata: [MetadataKeys.failedWorker: .string(last.workerID)]))
    }

    private static func reply(_ response: Tessera_V1_ForwardResponse) -> StepReply {
        StepReply(
            step: response.step, token: response.token, tokenLogprob: response.tokenLogprob,
            topLogits: response.topLogits.map {
                TokenLogit(tokenID: $0.token, logit: $0.logit, logprob: $0.logprob)
            }, commitments: response.commitments.map(\.domain))
    }

    /// The workers of the pipeline, first stage first.
    var workerIDs: [String] { route.stages.map(\.workerID) }

    /// `send` then `receive`: one step through the pipeline.
    func step(position: Int, tokens: [Int32]) async throws -> StepReply {
        try await receive(await send(position: position, tokens: tokens))
    }

    /// Ends the session normally (half-close): the workers free its KV caches and the call
    /// ends; `run` waits for that (bounded by the step timeout).
    func close() {
        watch.awaiting(nextStep)
        forward.requests.close()
    }

    /// A stalled pipeline the watchdog did not already blame (the step-timeout cap) does not
    /// say which stage stopped: the one that no longer answers health checks is blamed, so
    /// the failover avoids it and the scheduler checks it now.
    private func blamingStalledStage(_ error: any Error) async -> any Error {
        guard var failure = error as? PipelineFailure, failure.workerID == nil, failure.stalled
        else { return error }
        let liveness = StageLiveness(stages: route.stages, calls: calls)
        if let silent = await liveness.silentStage() { failure.workerID = silent.workerID }
        return failure
    }

    /// A stage's status as the generation sees it: a failure another pipeline may not repeat
    /// (fail over), or a refusal of the request itself.
    static func failure(_ error: any Error) -> any Error {
        guard let error = error as? RPCError else { return error }
        switch error.code {
        case .invalidArgument:
            return GatewayError.invalid("the pipeline rejected the request: \(error.message)")
        case .unimplemented:
            return GatewayError(.unavailable, "the workers cannot generate yet: \(error.message)")
        case .permissionDenied, .unauthenticated, .outOfRange:
            return GatewayError(
                .internalError, "the pipeline failed: \(error.code): \(error.message)")
        default:
            // The worker the stages blamed, if any.
            let blamed = error.metadata[stringValues: MetadataKeys.failedWorker].first {
                !$0.isEmpty
            }
            return PipelineFailure(
                reason: "\(error.code): \(error.message)", workerID: blamed,
                stalled: error.code == .deadlineExceeded, busy: error.code == .resourceExhausted)
        }
    }
}

extension Tessera_V1_SessionOpen {
    /// The first stage's open message: its own shard and the hops after it.
    init(_ session: SessionRequest) {
        let stages = session.route.stages
        self.init()
        sessionID = session.sessionID
        shardSha256 = stages[0].shard.sha256
        layers = Tessera_V1_LayerRange(stages[0].layers)
        downstream = stages.dropFirst().map { stage in
            .with {
                $0.workerID = stage.workerID
                $0.address = stage.address.description
                $0.layers = Tessera_V1_LayerRange(stage.layers)
                $0.shardSha256 = stage.shard.sha256
            }
        }
        contextLength = UInt32(session.contextLength)
        sampling = Tessera_V1_SamplingParams(session.sampling)
        outputStart = UInt32(clamping: session.outputStart)
        topLogits = UInt32(session.topLogits)
        // F32 activations keep the distributed pass bit-identical to a local one.
        activationDtype = .f32
    }
}
