import Foundation
import Inference
import Integrity
import ServiceKit

extension ForwardSession {
    /// Runs one step through this stage and, for a middle stage, the rest of the pipeline.
    /// Returns the reply to send upstream, or nil for a direct step (the last stage answered
    /// on the session's `Answers` stream).
    func step(_ step: StageStep) async throws -> StepResult? {
        if let awaiting = awaitingCommitments {
            throw WorkerError.invalidRequest(
                "step \(step.step) came before the commitments to step \(awaiting.step), which "
                    + "was sent with commitments_follow")
        }
        if step.commitmentsFollow, !step.answerDirectly {
            throw WorkerError.invalidRequest(
                "step \(step.step): commitments_follow is for direct steps (answer_directly) only")
        }
        let position = step.position
        let held = cache.position
        guard position <= held else {
            throw WorkerError.stalePosition(
                "step \(step.step) starts at position \(position) but the session holds \(held) tokens "
                    + "(a step continues at the session's length, or goes back to rewind)")
        }
        let (received, count) = try input(of: step)
        guard position + count <= cache.contextLength else {
            throw WorkerError.outOfContext(
                "step \(step.step): \(count) token(s) at position \(position) exceed the session's "
                    + "context of \(cache.contextLength)")
        }
        if position < held { cache.truncate(to: position) }  // rewind
        history.removeSubrange(min(position, history.count)...)
        history += step.tokens
        let faults = environment.faults?.nextStep(isLastStage: downstream == nil) ?? StepFaults()
        // What the stage computes on: what it received, but for the test-only faults.
        let computed = FaultInjector.input(
            received, faults: faults, vocabularySize: shard.hyperparameters.vocabularySize)

        let clock = ContinuousClock()
        let stage = shard.stage
        // The step's passes in the shard's batch loop: a decode token shares a pass with the
        // other sessions' steps, a prompt goes in chunks between them. Timed inside the loop:
        // the scheduler's speed estimate wants this step's share of the compute, not the wait
        // behind other sessions' steps.
        let output: StageOutput
        let computeSeconds: Double
        let queueSeconds: Double
        let tokenSeconds: Double
        do {
            let outcome = try await shard.loop.run(session: cache, input: computed)
            (output, computeSeconds, queueSeconds) = (
                outcome.output, outcome.computeSeconds, outcome.queueSeconds
            )
            tokenSeconds = outcome.shareSeconds
        } catch let error as InferenceError {
            throw WorkerError.invalidRequest("step \(step.step): \(error)")
        }
        var timing = StageTiming(workerID: environment.state.workerID, queueSeconds: queueSeconds)

        guard let downstream else {
            let sampling = clock.now
            var result = try await sample(output, step: step, faults: faults)
            let samplingSeconds = (clock.now - sampling).inSeconds
            timing.computeSeconds = computeSeconds + samplingSeconds
            result.timings = [timing]
            record(tokens: count, seconds: tokenSeconds + samplingSeconds)
            guard step.answerDirectly else {
                result.takesFollowingCommitments = true
                return result
            }
            result.timings = step.upstream.timings + result.timings
            if step.commitmentsFollow {
                awaitingCommitments = .answer(result)
                return nil
            }
            result.commitments = step.upstream.commitments + result.commitments
            environment.answers.post(result, session: id)
            return nil
        }
        timing.computeSeconds = computeSeconds
        record(tokens: count, seconds: tokenSeconds)
        guard case .hidden(var values, let rows) = output else {
            throw WorkerError.internalFailure(
                "stage \(stage.layers.layerSpan) returned logits but is not the last stage")
        }
        if let noise = faults.noise {
            FaultInjector.addNoise(
                &values, width: shard.hyperparameters.embeddingLength, relative: noise)
        }
        let hidden = HiddenStates(values: values, rows: rows)
        guard step.answerDirectly else {
            return try await relay(
                hidden, step: step, timing: timing, faults: faults, to: downstream)
        }
        try await pass(hidden, step: step, timing: timing, faults: faults, to: downstream)
        return nil
    }

    /// Hidden-state rows per message to the next stage (at least one, however wide).
    private var rowsPerMessage: Int {
        max(
            1,
            environment.maxActivationBytes
                / (shard.hyperparameters.embeddingLength * activation.bytesPerValue))
    }

    /// Sends a direct step's output on with this stage's timing and commitment added to what
    /// the stages before said, and waits for nothing: the last stage answers the gateway.
    /// When the next stage takes them, the commitments follow the step in a message of their
    /// own (`AwaitedCommitments`): this stage signs once the step is on its way. Otherwise
    /// (a next stage that predates that) they travel in the step, signed before it is sent.
    private func pass(
        _ hidden: HiddenStates, step: StageStep, timing: StageTiming, faults: StepFaults,
        to downstream: DownstreamHop
    ) async throws {
        let width = shard.hyperparameters.embeddingLength
        guard hidden.rows <= rowsPerMessage else {
            throw WorkerError.invalidRequest(
                "step \(step.step): \(hidden.rows) rows do not fit one message to the next stage "
                    + "(\(rowsPerMessage) at most); only a step that does may be answered directly")
        }
        let follow = downstream.takesFollowingCommitments
        guard follow || !step.commitmentsFollow else {
            throw WorkerError.invalidRequest(
                "step \(step.step) says its commitments follow, but this stage did not say it takes "
                    + "them (its next stage has not)")
        }
        var sending = hidden
        if faults.tamperOutput { FaultInjector.tamper(&sending) }
        var upstream = step.upstream
        if follow {
            upstream.commitments = []  // they follow the step
        } else {
            upstream.commitments += directCommitments(step, output: hidden, faults: faults)
        }
        let next = StageStep(
            step: step.step, position: step.position, tokens: step.tokens, hidden: sending,
            returnLogits: step.returnLogits, replay: step.replay, answerDirectly: true,
            upstream: upstream, commitmentsFollow: follow)
        let bytes = try await downstream.send(
            next, adding: timing, width: width, encoding: activation)
        WorkerMetrics.hop(bytes: bytes)
        guard follow else { return }
        let own = directCommitments(step, output: hidden, faults: faults)
        if step.commitmentsFollow {
            awaitingCommitments = .sendOn(step: step.step, own: own)
        } else {
            try await sendOn(
                FollowingCommitments(step: step.step, commitments: step.upstream.commitments + own))
        }
    }

    /// Sends this stage's output to the next stage and returns its reply with this stage's
    /// timing and commitments first. Output too large for one message goes in consecutive
    /// pieces (each its own step downstream, same step number, one commitment each); the
    /// reply to the last piece is the answer, with the pieces' timings added up and every
    /// piece's commitments kept.
    private func relay(
        _ hidden: HiddenStates, step: StageStep, timing: StageTiming, faults: StepFaults,
        to downstream: DownstreamHop
    ) async throws -> StepResult {
        let width = shard.hyperparameters.embeddingLength
        let rows = hidden.rows
        let clock = ContinuousClock()
        var timing = timing
        // Downstream timings of the pieces before the last.
        var earlier: [StageTiming] = []
        var own: [StepCommitment] = []
        var downstreamCommitments: [StepCommitment] = []
        var start = 0
        while true {
            let end = min(rows, start + rowsPerMessage)
            let output = hidden.values[(start * width)..<(end * width)]
            var sending = HiddenStates(values: Array(output), rows: end - start)
            if faults.tamperOutput { FaultInjector.tamper(&sending) }
            let piece = StageStep(
                step: step.step, position: step.position + start,
                tokens: Array(step.tokens[start..<end]), hidden: sending,
                returnLogits: step.returnLogits && end == rows, replay: step.replay)

            let sent = clock.now
            let bytes = try await downstream.send(piece, width: width, encoding: activation)
            // Made while the next stage works on the piece: off the step's critical path.
            own.append(hopCommitment(step, rows: start..<end, output: output, faults: faults))
            var reply = try await downstream.nextReply()
            let waited = (clock.now - sent).inSeconds
            guard reply.step == step.step else {
                throw WorkerError.internalFailure(
                    "the next stage answered step \(reply.step) to step \(step.step)")
            }
            let downstreamSeconds = reply.timings.reduce(0) {
                $0 + $1.computeSeconds + $1.queueSeconds + $1.sendSeconds
            }
            let overhead = max(0, waited - downstreamSeconds)
            timing.sendSeconds += overhead
            timing.bytesSent += UInt64(bytes)
            WorkerMetrics.hop(overheadSeconds: overhead, bytes: bytes)
            if rows == 1 {  // decode steps: one message size per pair, comparable over time
                environment.state.recordLink(
                    to: downstream.stage.workerID, roundTrip: overhead, bytes: bytes)
            }
            downstreamCommitments += reply.commitments
            guard end == rows else {
                earlier = StageTiming.sum(reply.timings, earlier)
                start = end
                continue
            }
            reply.timings = [timing] + StageTiming.sum(earlier, reply.timings)
            reply.commitments = ownCommitments(own, faults: faults) + downstreamCommitments
            return reply
        }
    }

    /// The stage's input, checked against its role and the model.
    private func input(of step: StageStep) throws -> (StageInput, Int) {
        let hp = shard.hyperparameters
        let tokens = step.tokens
        guard !tokens.isEmpty else {
            throw WorkerError.invalidRequest("step \(step.step) has no token_ids")
        }
        if let bad = tokens.first(where: { $0 < 0 || Int($0) >= hp.vocabularySize }) {
            throw WorkerError.invalidRequest(
                "step \(step.step): token id \(bad) is outside the vocabulary 0..<\(hp.vocabularySize)"
            )
        }
        if shard.stage.isFirst {
            guard step.hidden == nil else {
                throw WorkerError.invalidRequest(
                    "the first stage embeds token_ids itself; step \(step.step) must not carry hidden"
                )
            }
            return (.tokens(tokens), tokens.count)
        }
        guard let hidden = step.hidden else {
            throw WorkerError.invalidRequest(
                "stage \(shard.layers.layerSpan) takes hidden states; step \(step.step) has none")
        }
        guard hidden.rows == tokens.count else {
            throw WorkerError.invalidRequest(
                "step \(step.step) carries \(hidden.rows) hidden rows but \(tokens.count) token ids"
            )
        }
        return (.hidden(hidden.values, count: hidden.rows), hidden.rows)
    }

    /// Last stage: the next token from the last position's logits, and the commitment to it.
    private func sample(_ output: StageOutput, step: StageStep, faults: StepFaults) async throws
        -> StepResult
    {
        guard case .logits(var logits, _) = output, let sampler else {
            throw WorkerError.internalFailure("the last stage produced no logits")
        }
        let vocabulary = shard.hyperparameters.vocabularySize
        if let noise = faults.noise {
            FaultInjector.addNoise(&logits, width: vocabulary, relative: noise)
        }
        // The last position's row (the whole array unless all positions' logits came back).
        let last = logits.count == vocabulary ? logits : Array(logits.suffix(vocabulary))
        // Its fingerprint, the commitment's largest cost (~40 µs for 49,152 logits), is made
        // on another core while this one samples.
        async let fingerprint = Offload.run {
            ActivationFingerprint(values: last, width: vocabulary)
        }
        try catchUpConstraint()
        var token: Int32
        do {
            token = try sampler.sample(
                logits: logits, recentTokens: history, position: cache.position,
                endOfGeneration: shard.endOfGeneration, constraint: constraint)
        } catch {
            throw WorkerError.internalFailure("step \(step.step): sampling failed: \(error)")
        }
        if faults.wrongToken { token = FaultInjector.otherToken(than: token, logits: last) }
        var result = StepResult(
            step: step.step, token: token, topLogits: [],
            logits: step.returnLogits ? logits : [])
        // Log-probabilities cost a pass over the vocabulary: only when top logits are asked for.
        if topLogits > 0 {
            let logSumExp = LogProbabilities.logSumExp(logits)
            result.tokenLogprob = LogProbabilities.logprob(
                logits[Int(token)], logSumExp: logSumExp)
            result.topLogits = TopLogits.largest(logits, count: topLogits).map {
                ($0.id, $0.logit, LogProbabilities.logprob($0.logit, logSumExp: logSumExp))
            }
        }
        let commitment = lastStageCommitment(
            step, fingerprint: try await fingerprint, token: token, faults: faults)
        result.commitments = ownCommitments([commitment], faults: faults)
        return result
    }

    /// Brings the response format's state to the end of `history`: the output tokens sent
    /// since the last sample (the token just sampled, or a replay's earlier output), all of
    /// them again after a rewind into the output.
    private func catchUpConstraint() throws {
        guard var constraint else { return }
        let start = outputStart ?? history.count
        outputStart = start
        // A prefill cut into pieces is sampled after each piece; only the last one's token counts.
        guard history.count > start else { return }
        if history.count - start < constraint.acceptedCount { constraint.reset() }
        do {
            for token in history[(start + constraint.acceptedCount)...] {
                try constraint.accept(token)
            }
        } catch {
            throw WorkerError.invalidRequest(
                "the output does not fit its response format: \(error)")
        }
        self.constraint = constraint
    }

    private func record(tokens: Int, seconds: Double) {
        environment.state.recordStep(
            layers: shard.layers, tokens: tokens, seconds: seconds,
            weightBytes: shard.stage.weightBytesPerToken)
        WorkerMetrics.step(role: role, tokens: tokens, computeSeconds: seconds)
    }
}
