import Inference
import Integrity
import Logging
import ServiceKit
import Tokenization
import Tracing

/// Runs one generation through the cluster (docs/generation-protocol.md, "Generation"), as
/// a sequence of phases (`GenerationPhase`): lease a pipeline, prefill the prompt in one
/// step, decode one step per token, stop at the gateway; when a stage fails, fail over
/// (report the worker, lease another pipeline avoiding it) and replay the prompt and the
/// output so far, so the stream continues where it was.
struct GenerationSession {
    let vocabulary: ModelVocabulary
    let prompt: [Int32]
    let options: GenerationOptions
    let router: PipelineRouter
    let workers: ClientPool
    /// Runs the pipelines' `Forward` calls (see PipelineStream.run).
    let calls: BackgroundWork
    /// Carries `request_id`, like every log line of this request.
    let logger: Logger
    /// Passed to the workers with the Forward call, so their lines carry it too.
    let requestID: String
    var maxFailovers = 5
    /// Replay as prefill + one step per generated token (exact) rather than one prefill step.
    var exactReplay = true
    /// The last stage of a pipeline answers decode steps straight to the gateway.
    var directAnswers = true
    /// How long one step may take before the pipeline counts as stalled (a hung worker).
    var stall = StallPolicy()
    /// Signs the receipt of a finished generation (and ships its record to the verifier).
    var receipts: ReceiptIssuer?
    /// Workers the verifier quarantined: a pipeline through one is left at the next step.
    var quarantine: QuarantineWatch?
    /// The gRPC client's deadline: a wait in the admission queue ends before it.
    var deadline: RequestDeadline?
    /// The request's hold on its API key (nil with auth off): it is charged the tokens, and
    /// its key is its queue in fair admission.
    var ticket: KeyTicket?

    /// Tokens this request may generate: its max_tokens, or fewer when the context is the limit.
    var tokenBudget: Int {
        min(options.parameters.maxTokens, vocabulary.contextLength - prompt.count)
    }

    /// Checks the prompt fits; call before committing to a response.
    func validate() throws {
        guard !prompt.isEmpty else {
            throw GatewayError.invalid("the prompt is empty", parameter: "prompt")
        }
        guard prompt.count < vocabulary.contextLength else {
            throw GatewayError(
                .promptTooLong,
                "the prompt has \(prompt.count) tokens; the model's context holds \(vocabulary.contextLength), "
                    + "which must leave room for at least one generated token",
                parameter: "messages")
        }
    }

    /// Tokens a session on `route` may hold: the model's context, capped by the KV memory
    /// the scheduler reserved per session (its --context-length).
    func context(on route: PipelineRoute) -> Int {
        min(vocabulary.contextLength, route.contextLength ?? vocabulary.contextLength)
    }

    /// The generation itself; `run` (GenerationSession+Activity) wraps it to record it for the dashboard.
    func runPhases(onUpdate: (GenerationUpdate) async throws -> Void) async throws
        -> GenerationSummary
    {
        try validate()
        GatewayMetrics.activeGenerations.increment()
        defer { GatewayMetrics.activeGenerations.decrement() }
        var progress = GenerationProgress(
            budget: tokenBudget, stop: stopCondition(budget: tokenBudget),
            summary: GenerationSummary(promptTokens: prompt.count))
        // The key pays for what was generated, even when the generation then failed.
        defer {
            ticket?.record(promptTokens: prompt.count, completionTokens: progress.generated.count)
        }
        while true {
            let lease = try await withSpan("acquire pipeline") { span in
                let granted = try await self.lease(&progress)
                span.attributes[TraceAttribute.pipeline] = granted.route.id
                return granted
            }
            defer { router.release(lease) }
            do {
                let session = SessionRequest(
                    sessionID:
                        "gw-\(UInt64.random(in: 0...UInt64.max))-\(progress.summary.failovers)",
                    route: lease.route, contextLength: prompt.count + progress.budget,
                    sampling: options.parameters, outputStart: prompt.count,
                    topLogits: options.topLogits, requestID: requestID,
                    directAnswers: directAnswers)
                // The workers' spans of this session are children of this one: the Forward
                // call carries its context (see ForwardSession+Tracing).
                return try await withSpan("pipeline session") { span in
                    span.attributes[TraceAttribute.pipeline] = lease.route.id
                    span.attributes[TraceAttribute.session] = session.sessionID
                    span.attributes[TraceAttribute.workers] = lease.route.stages.map(\.workerID)
                    return try await PipelineStream.run(
                        session, workers: workers, calls: calls, stall: stall
                    ) { stream in
                        let reply = try await catchUp(stream, &progress)
                        return try await withSpan("decode") { span in
                            defer {
                                span.attributes[TraceAttribute.tokens] = progress.generated.count
                            }
                            return try await decode(
                                stream, from: reply, &progress, onUpdate: onUpdate)
                        }
                    }
                }
            } catch let failure as PipelineFailure where failure.busy {
                try await waitForCapacity(failure, &progress)
            } catch let failure as PipelineFailure {
                try failOver(failure, on: lease, &progress)
            }
        }
    }

    // MARK: Phases

    /// Leasing: a ready pipeline that avoids the workers that failed this request, whose
    /// sessions can hold the prompt (the budget shrinks to what they can hold).
    private func lease(_ progress: inout GenerationProgress) async throws -> PipelineLease {
        progress.enter(.leasing, logger: logger)
        let lease = try await router.acquire(
            model: vocabulary.model.sha256, avoiding: progress.avoided,
            expectedTokens: progress.budget - progress.generated.count,
            failFast: progress.summary.failovers == 0, deadline: deadline, tenant: ticket?.tenant)
        let context = context(on: lease.route)
        guard prompt.count < context else {
            router.release(lease)
            throw GatewayError(
                .promptTooLong,
                "the prompt has \(prompt.count) tokens; the cluster serves sessions of \(context) tokens "
                    + "(the scheduler's --context-length), which must leave room for at least one generated token",
                parameter: "messages")
        }
        if progress.generated.isEmpty && context - prompt.count < progress.budget {
            progress.budget = context - prompt.count
            progress.stop = stopCondition(budget: progress.budget)
        }
        if let since = progress.pausedSince {
            logger.info(
                "new pipeline after failover",
                metadata: [
                    "pipeline": "\(lease.route.id)",
                    "wait_ms": "\((ContinuousClock.now - since).inMilliseconds)",
                    "replay_tokens": "\(prompt.count + progress.generated.count)",
                ])
        }
        progress.ledger.use(lease.route)
        return lease
    }

    /// Prefilling or replaying: brings a new session to where generation is and returns the
    /// reply carrying the next new token: the prompt alone at first; after a failover the
    /// prompt and the output. The prompt goes as it first went (one step: the same bits);
    /// the output goes as one `replay` step, which every stage computes token by token
    /// exactly as the decode steps did (a prefill rounds differently and could flip a
    /// near-tie, changing the rest of the stream), in one pass rather than one step per token
    /// waiting behind the other sessions' steps.
    private func catchUp(_ stream: PipelineStream, _ progress: inout GenerationProgress)
        async throws -> StepReply
    {
        let generated = progress.generated
        guard !generated.isEmpty else {
            progress.enter(.prefilling, logger: logger)
            return try await withSpan("prefill") { span in
                span.attributes[TraceAttribute.tokens] = prompt.count
                let reply = try await stream.step(position: 0, tokens: prompt)
                progress.record(reply)
                return reply
            }
        }
        return try await withSpan("replay") { span in
            span.attributes[TraceAttribute.tokens] = prompt.count + generated.count
            return try await replay(stream, generated: generated, &progress)
        }
    }

    /// Catching up after a failover: the prompt, then the output so far.
    private func replay(
        _ stream: PipelineStream, generated: [Int32], _ progress: inout GenerationProgress
    ) async throws -> StepReply {
        progress.enter(.replaying, logger: logger)
        guard exactReplay else {
            let reply = try await stream.step(position: 0, tokens: prompt + generated)
            progress.record(reply)
            return reply
        }
        let prefillStep = await stream.send(position: 0, tokens: prompt)
        let replayStep = await stream.send(
            position: prompt.count, tokens: generated, replay: true)
        let afterPrompt = try await stream.receive(prefillStep)
        progress.record(afterPrompt)
        // The replay samples again; it should agree with what the client already has.
        if afterPrompt.token != generated[0] {
            logger.warning(
                "replay sampled differently from the lost pipeline; keeping the tokens already sent",
                metadata: ["index": "0", "generated": "\(generated.count)"])
        }
        let replayed = try await stream.receive(replayStep)
        progress.record(replayed)
        return replayed
    }

    /// Decoding: hands each token to the client and asks for the next, until a stop
    /// condition ends the generation (finished).
    private func decode(
        _ stream: PipelineStream, from first: StepReply, _ progress: inout GenerationProgress,
        onUpdate: (GenerationUpdate) async throws -> Void
    ) async throws -> GenerationSummary {
        progress.enter(.decoding, logger: logger)
        var reply = first
        while true {
            let token = reply.token
            guard token >= 0, Int(token) < vocabulary.tokenizer.vocabularySize else {
                throw GatewayError(
                    .internalError, "the pipeline sampled token \(token), outside the vocabulary")
            }
            let text = try progress.stop.accept(token)
            progress.generated.append(token)
            recordTiming(&progress)
            let finish: FinishReason? = progress.stop.reason.map {
                if case .maxTokens = $0 { .length } else { .stop }
            }
            // The next step goes out before this token goes to the client, so the pipeline
            // computes while the client's write is under way.
            let position = prompt.count + progress.generated.count - 1
            let next = finish == nil ? await stream.send(position: position, tokens: [token]) : nil
            // The last update carries the receipt: every reply's commitments are in by now.
            let receipt = finish == nil ? nil : issueReceipt(progress)
            try await onUpdate(
                GenerationUpdate(
                    tokenID: token, text: text, logprob: reply.tokenLogprob,
                    topLogits: reply.topLogits, finishReason: finish,
                    completionTokens: progress.generated.count, receipt: receipt))
            guard let next else {
                stream.close()
                progress.summary.receipt = receipt
                return finished(finish ?? .stop, &progress)
            }
            reply = try await stream.receive(next)
            // The reply of a pipeline through a quarantined worker is not used (nor kept for
            // the receipt): its token is sampled again on the next pipeline.
            if let worker = quarantine?.firstQuarantined(among: stream.workerIDs) {
                throw PipelineFailure(
                    reason: "worker \(worker) was quarantined by the verifier", workerID: worker)
            }
            progress.record(reply)
        }
    }

    /// A stage refused the session for want of a slot or KV memory (its sessions outlived
    /// their leases a moment, or an operator gave it more slots than memory): capacity, not a
    /// fault. The worker is neither avoided nor reported; after a pause (0.1 s, growing to 1 s)
    /// the request asks for a pipeline again, for about the admission queue's usual wait.
    private func waitForCapacity(_ refusal: PipelineFailure, _ progress: inout GenerationProgress)
        async throws
    {
        progress.busyRefusals += 1
        guard progress.busyRefusals <= Self.maxBusyRefusals else {
            throw GatewayError(
                .queueTimeout,
                "the pipelines' workers stayed out of session capacity: \(refusal.reason)",
                retryAfter: .seconds(1))
        }
        logger.notice(
            "a stage is out of session capacity; asking again",
            metadata: ["refusals": "\(progress.busyRefusals)", "error": "\(refusal.reason)"])
        if progress.pausedSince == nil, !progress.generated.isEmpty {
            progress.pausedSince = ContinuousClock.now
        }
        try await Task.sleep(for: .milliseconds(min(1000, 100 * progress.busyRefusals)))
    }

    /// About 30 s of asking (the admission queue's default wait).
    static let maxBusyRefusals = 35

    /// Failing over: the failed worker is avoided and reported, its connection dropped;
    /// gives up after `maxFailovers`.
    private func failOver(
        _ failure: PipelineFailure, on lease: PipelineLease, _ progress: inout GenerationProgress
    ) throws {
        progress.enter(.failingOver, logger: logger)
        progress.summary.failovers += 1
        let stages = lease.route.stages
        let worker = failure.workerID ?? stages[0].workerID
        withSpan("failover") { span in
            span.attributes[TraceAttribute.failedWorker] = worker
            span.attributes[TraceAttribute.reason] = failure.reason
        }
        progress.avoided.insert(worker)
        if let failed = stages.first(where: { $0.workerID == worker }) {
            workers.remove(failed.address)
        }
        logger.warning(
            "pipeline failed; failing over",
            metadata: [
                "worker": "\(worker)", "pipeline": "\(lease.route.id)",
                "generated": "\(progress.generated.count)",
                "attempt": "\(progress.summary.failovers)", "error": "\(failure.reason)",
            ])
        router.reportFailure(workerID: worker, pipelineID: lease.route.id, reason: failure.reason)
        guard progress.summary.failovers <= maxFailovers else {
            throw GatewayError(
                .unavailable,
                "generation failed on \(progress.summary.failovers) pipelines; last: \(failure.reason)"
            )
        }
        if progress.pausedSince == nil { progress.pausedSince = ContinuousClock.now }
    }

    private func finished(_ reason: FinishReason, _ progress: inout GenerationProgress)
        -> GenerationSummary
    {
        progress.enter(.finished(reason), logger: logger)
        progress.summary.completionTokens = progress.generated.count
        progress.summary.finishReason = reason
        GatewayMetrics.tokens(prompt: prompt.count, completion: progress.generated.count)
        return progress.summary
    }

    // MARK: Helpers

    /// The signed receipt over everything the generation's pipelines committed to.
    private func issueReceipt(_ progress: GenerationProgress) -> ReceiptBody? {
        receipts?.issue(
            ledger: progress.ledger, model: vocabulary.model, prompt: prompt,
            output: progress.generated, sampling: options.parameters)
    }

    /// Time to first token, and the pause a failover caused once the first token after it arrives.
    private func recordTiming(_ progress: inout GenerationProgress) {
        let now = ContinuousClock.now
        if progress.generated.count == 1 {
            progress.summary.timeToFirstToken = now - progress.started
            GatewayMetrics.timeToFirstToken(progress.summary.timeToFirstToken)
        }
        if let since = progress.pausedSince {
            let pause = now - progress.lastTokenAt
            progress.summary.longestFailoverPause = max(
                progress.summary.longestFailoverPause, pause)
            GatewayMetrics.failover(pause: pause)
            logger.info(
                "failover complete",
                metadata: [
                    "pause_ms": "\(pause.inMilliseconds)",
                    "recovery_ms": "\((now - since).inMilliseconds)",
                ])
            progress.pausedSince = nil
        }
        if progress.generated.count > 1 {
            GatewayMetrics.interTokenLatency(now - progress.lastTokenAt)
        }
        progress.lastTokenAt = now
    }

    private func stopCondition(budget: Int) -> StopCondition {
        var parameters = options.parameters
        parameters.maxTokens = budget
        return StopCondition(parameters: parameters, tokenizer: vocabulary.tokenizer)
    }
}
