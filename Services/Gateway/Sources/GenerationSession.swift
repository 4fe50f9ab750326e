import GRPCCore
import Inference
import Logging
import TesseraProto
import Tokenization

/// One generated token as the APIs stream it. The last update of a generation carries the
/// finish reason (and the APIs add usage from the summary).
struct GenerationUpdate: Sendable {
    var tokenID: Int32
    /// Text that became visible with this token: may be empty (a split character, a possible
    /// stop string held back) or include text held back earlier.
    var text: String
    var topLogits: [Tessera_V1_TokenLogit]
    var finishReason: Tessera_V1_FinishReason?
    /// Tokens generated so far, this one included (the usage on the last update).
    var completionTokens: Int
}

struct GenerationSummary: Sendable {
    var promptTokens: Int
    var completionTokens = 0
    var finishReason: Tessera_V1_FinishReason = .unspecified
    var failovers = 0
    /// The longest gap between two tokens the client saw because of a failover.
    var longestFailoverPause: Duration = .zero
    var timeToFirstToken: Duration = .zero
}

/// Runs one generation through the cluster (docs/generation-protocol.md, "Generation"):
/// acquire a pipeline, prefill the prompt in one step, decode one step per token, stop at the
/// gateway, and on a pipeline failure report the worker, acquire another pipeline avoiding
/// it, and replay the prompt plus the output so far so the stream continues where it was.
struct GenerationSession {
    let vocabulary: ModelVocabulary
    let prompt: [Int32]
    let options: GenerationOptions
    let router: PipelineRouter
    let workers: WorkerConnections
    let logger: Logger
    var maxFailovers = 5
    /// Replay as prefill + one step per generated token (exact) rather than one prefill step.
    var exactReplay = true
    /// How long one step may take before the pipeline counts as failed (a hung worker).
    var stepTimeout: Duration = .seconds(60)

    /// Tokens this request may generate: its max_tokens, or fewer when the context is the limit.
    var tokenBudget: Int { min(Int(options.wire.maxTokens), vocabulary.contextLength - prompt.count) }

    /// Checks the prompt fits; call before committing to a response.
    func validate() throws {
        guard !prompt.isEmpty else { throw GatewayError.invalid("the prompt is empty", parameter: "prompt") }
        guard prompt.count < vocabulary.contextLength else {
            throw GatewayError(
                .promptTooLong,
                "the prompt has \(prompt.count) tokens; the model's context holds \(vocabulary.contextLength), "
                    + "which must leave room for at least one generated token", parameter: "messages")
        }
    }

    /// Tokens a session on `pipeline` may hold: the model's context, capped by the KV memory
    /// the scheduler reserved per session (its --context-length).
    func context(on pipeline: Tessera_V1_Pipeline) -> Int {
        pipeline.contextLength > 0 ? min(vocabulary.contextLength, Int(pipeline.contextLength)) : vocabulary.contextLength
    }

    private func stopCondition(budget: Int) -> StopCondition {
        var parameters = options.parameters
        parameters.maxTokens = budget
        return StopCondition(parameters: parameters, tokenizer: vocabulary.tokenizer)
    }

    func run(onUpdate: (GenerationUpdate) async throws -> Void) async throws -> GenerationSummary {
        try validate()
        var budget = tokenBudget
        var stop = stopCondition(budget: budget)
        var summary = GenerationSummary(promptTokens: prompt.count)
        var generated: [Int32] = []
        var avoided: Set<String> = []
        let started = ContinuousClock.now
        var lastTokenAt = started
        var pausedSince: ContinuousClock.Instant?

        while true {
            let lease = try await router.acquire(
                model: vocabulary.model.sha256, avoiding: avoided, expectedTokens: budget - generated.count)
            defer { router.release(lease) }
            let context = context(on: lease.pipeline)
            guard prompt.count < context else {
                throw GatewayError(
                    .promptTooLong,
                    "the prompt has \(prompt.count) tokens; the cluster serves sessions of \(context) tokens "
                        + "(the scheduler's --context-length), which must leave room for at least one generated token",
                    parameter: "messages")
            }
            if generated.isEmpty && context - prompt.count < budget {
                budget = context - prompt.count
                stop = stopCondition(budget: budget)
            }
            if let since = pausedSince {
                logger.info(
                    "new pipeline after failover",
                    metadata: [
                        "pipeline": "\(lease.pipeline.pipelineID)", "wait_ms": "\((ContinuousClock.now - since).milliseconds)",
                        "replay_tokens": "\(prompt.count + generated.count)",
                    ])
            }
            let stream = try openStream(lease, contextLength: prompt.count + budget, attempt: summary.failovers)
            do {
                var response = try await prefill(stream, generated: generated)
                while true {
                    let token = Int32(bitPattern: response.tokenID)
                    guard token >= 0, Int(token) < vocabulary.tokenizer.vocabularySize else {
                        throw GatewayError(.internalError, "the pipeline sampled token \(response.tokenID), outside the vocabulary")
                    }
                    let text = try stop.accept(token)
                    generated.append(token)
                    let now = ContinuousClock.now
                    if generated.count == 1 {
                        summary.timeToFirstToken = now - started
                        GatewayMetrics.timeToFirstToken(summary.timeToFirstToken)
                    }
                    if let since = pausedSince {
                        let pause = now - lastTokenAt
                        summary.longestFailoverPause = max(summary.longestFailoverPause, pause)
                        GatewayMetrics.failover(pause: pause)
                        logger.info("failover complete", metadata: ["pause_ms": "\(pause.milliseconds)", "recovery_ms": "\((now - since).milliseconds)"])
                        pausedSince = nil
                    }
                    lastTokenAt = now
                    let finish: Tessera_V1_FinishReason? = stop.reason.map {
                        if case .maxTokens = $0 { .length } else { .stop }
                    }
                    // The next step goes out before this token goes to the client, so the
                    // pipeline computes while the client's write is under way.
                    let next = finish == nil ? stream.send(position: prompt.count + generated.count - 1, tokens: [token]) : nil
                    try await onUpdate(
                        GenerationUpdate(
                            tokenID: token, text: text, topLogits: response.topLogits, finishReason: finish,
                            completionTokens: generated.count))
                    guard let next else {
                        stream.close()
                        summary.completionTokens = generated.count
                        summary.finishReason = finish ?? .stop
                        GatewayMetrics.tokens(prompt: prompt.count, completion: generated.count)
                        return summary
                    }
                    response = try await mappingFailures { try await stream.receive(next) }
                }
            } catch let failure as PipelineFailure {
                stream.cancel()
                summary.failovers += 1
                let worker = failure.workerID ?? lease.pipeline.stages[0].workerID
                avoided.insert(worker)
                if let failed = lease.pipeline.stages.first(where: { $0.workerID == worker }) { workers.discard(failed.address) }
                logger.warning(
                    "pipeline failed; failing over",
                    metadata: [
                        "worker": "\(worker)", "pipeline": "\(lease.pipeline.pipelineID)", "generated": "\(generated.count)",
                        "attempt": "\(summary.failovers)", "error": "\(failure.error.code): \(failure.error.message)",
                    ])
                router.reportFailure(
                    workerID: worker, pipelineID: lease.pipeline.pipelineID, reason: "\(failure.error.code): \(failure.error.message)")
                guard summary.failovers <= maxFailovers else {
                    throw GatewayError(.unavailable, "generation failed on \(summary.failovers) pipelines; last: \(failure.error.message)")
                }
                if pausedSince == nil { pausedSince = ContinuousClock.now }
            } catch {
                stream.cancel()
                throw error
            }
        }
    }

    private func openStream(_ lease: PipelineLease, contextLength: Int, attempt: Int) throws -> PipelineStream {
        let stages = lease.pipeline.stages
        let open = Tessera_V1_SessionOpen.with {
            $0.sessionID = "gw-\(UInt64.random(in: 0...UInt64.max))-\(attempt)"
            $0.shardSha256 = stages[0].shard.sha256
            $0.layers = stages[0].layers
            $0.downstream = stages.dropFirst().map { stage in
                .with {
                    $0.workerID = stage.workerID
                    $0.address = stage.address
                    $0.layers = stage.layers
                    $0.shardSha256 = stage.shard.sha256
                }
            }
            $0.contextLength = UInt32(contextLength)
            $0.sampling = options.wire
            $0.topLogits = UInt32(options.topLogits)
            // F32 activations keep the distributed pass bit-identical to a local one.
            $0.activationDtype = .f32
        }
        return PipelineStream(
            stages: stages, open: open, client: try workers.client(for: stages[0].address), stepTimeout: stepTimeout)
    }

    /// Brings a new session to where generation is and returns the reply carrying the next
    /// new token: the prompt alone at first; after a failover the prompt and the output.
    /// The output is replayed one decode step per token, exactly as it was first computed (a
    /// batched prefill rounds differently and could flip a near-tie, changing the rest of the
    /// stream); the steps are all sent at once, so the replay costs compute, not round trips.
    private func prefill(_ stream: PipelineStream, generated: [Int32]) async throws -> Tessera_V1_ForwardResponse {
        guard !generated.isEmpty else { return try await pipelineStep(stream, position: 0, tokens: prompt) }
        guard exactReplay else { return try await pipelineStep(stream, position: 0, tokens: prompt + generated) }
        let prefillStep = stream.send(position: 0, tokens: prompt)
        let replaySteps = generated.enumerated().map { index, token in
            stream.send(position: prompt.count + index, tokens: [token])
        }
        var response = try await mappingFailures { try await stream.receive(prefillStep) }
        var divergence: Int?
        for (index, step) in replaySteps.enumerated() {
            // The replay samples again; it should agree with what the client already has.
            if divergence == nil && Int32(bitPattern: response.tokenID) != generated[index] { divergence = index }
            response = try await mappingFailures { try await stream.receive(step) }
        }
        if let divergence {
            logger.warning("replay sampled differently from the lost pipeline; keeping the tokens already sent",
                metadata: ["index": "\(divergence)", "generated": "\(generated.count)"])
        }
        return response
    }

    private func pipelineStep(_ stream: PipelineStream, position: Int, tokens: [Int32]) async throws -> Tessera_V1_ForwardResponse {
        try await mappingFailures { try await stream.step(position: position, tokens: tokens) }
    }

    /// Tells pipeline failures that a failover can fix apart from the rest.
    private func mappingFailures<Result>(_ body: () async throws -> Result) async throws -> Result {
        do {
            return try await body()
        } catch let error as RPCError where PipelineFailure.isRecoverable(error.code) {
            throw PipelineFailure(error: error)
        } catch let error as RPCError {
            switch error.code {
            case .invalidArgument: throw GatewayError.invalid("the pipeline rejected the request: \(error.message)")
            case .unimplemented: throw GatewayError(.unavailable, "the workers cannot generate yet: \(error.message)")
            default: throw GatewayError(.internalError, "the pipeline failed: \(error.code): \(error.message)")
            }
        }
    }
}

/// A stage failed in a way another pipeline can recover from.
struct PipelineFailure: Error {
    let error: RPCError

    /// The worker the stages blamed (`tessera-failed-worker`), if any.
    var workerID: String? {
        error.metadata[stringValues: "tessera-failed-worker"].first(where: { !$0.isEmpty })
    }

    static func isRecoverable(_ code: RPCError.Code) -> Bool {
        switch code {
        case .invalidArgument, .unimplemented, .permissionDenied, .unauthenticated, .outOfRange: false
        default: true
        }
    }
}

extension Duration {
    var milliseconds: Int64 { GatewayMetrics.nanoseconds(self) / 1_000_000 }
}
