import Foundation
import Inference
import ServiceKit
import TesseraProto

extension ForwardSession {
    /// Runs one step through this stage and, for a middle stage, the rest of the pipeline.
    func step(_ step: Tessera_V1_ForwardStep) async throws -> Tessera_V1_ForwardResponse {
        let position = Int(step.position)
        let held = cache.position
        guard position <= held else {
            throw WorkerError.stalePosition(
                "step \(step.step) starts at position \(position) but the session holds \(held) tokens "
                    + "(a step continues at the session's length, or goes back to rewind)")
        }
        let tokens = step.tokens
        let (input, count) = try input(of: step, tokens: tokens)
        guard position + count <= cache.contextLength else {
            throw WorkerError.outOfContext(
                "step \(step.step): \(count) token(s) at position \(position) exceed the session's context of \(cache.contextLength)"
            )
        }
        if position < held { cache.truncate(to: position) }  // rewind
        history.removeSubrange(min(position, history.count)...)
        history += tokens

        let clock = ContinuousClock()
        let stage = shard.stage
        let cache = self.cache
        let output: StageOutput
        // Timed inside the shard's queue: the scheduler's speed estimate wants the compute
        // of this step, not the wait behind other sessions' steps.
        let computeSeconds: Double
        let queueSeconds: Double
        let enqueued = clock.now
        do {
            (output, computeSeconds, queueSeconds) = try await shard.run {
                let started = clock.now
                let output = try stage.forward(input, session: cache)
                return (output, (clock.now - started).inSeconds, (started - enqueued).inSeconds)
            }
        } catch let error as InferenceError {
            throw WorkerError.invalidRequest("step \(step.step): \(error)")
        }
        var timing = Tessera_V1_StageTiming()
        timing.workerID = environment.state.workerID
        timing.queueSeconds = queueSeconds

        guard let downstream else {
            let sampling = clock.now
            var response = try sample(output, step: step)
            timing.computeSeconds = computeSeconds + (clock.now - sampling).inSeconds
            timing.bytesSent = UInt64(response.wireSize)
            response.timings = [timing]
            record(tokens: count, seconds: timing.computeSeconds)
            return response
        }
        timing.computeSeconds = computeSeconds
        record(tokens: count, seconds: timing.computeSeconds)
        guard case .hidden(let values, let rows) = output else {
            throw WorkerError.internalFailure(
                "stage \(stage.layers.layerSpan) returned logits but is not the last stage")
        }
        return try await relay(values, rows: rows, step: step, timing: timing, to: downstream)
    }

    /// Sends this stage's output to the next stage and returns its reply with this stage's
    /// timing first. Output too large for one message goes in consecutive pieces (each its
    /// own step downstream, same step number); the reply to the last piece is the answer,
    /// with the pieces' timings added up.
    private func relay(
        _ values: [Float], rows: Int, step: Tessera_V1_ForwardStep, timing: Tessera_V1_StageTiming,
        to downstream: DownstreamHop
    ) async throws -> Tessera_V1_ForwardResponse {
        let width = shard.hyperparameters.embeddingLength
        let rowBytes = width * activation.bytesPerValue
        let rowsPerMessage = max(1, environment.maxActivationBytes / rowBytes)
        let clock = ContinuousClock()
        var timing = timing
        // downstream timings of the pieces before the last
        var earlier: [Tessera_V1_StageTiming] = []
        var start = 0
        while true {
            let end = min(rows, start + rowsPerMessage)
            var next = Tessera_V1_ForwardStep()
            next.step = step.step
            next.position = step.position + UInt32(start)
            next.tokenIds = Array(step.tokenIds[start..<end])
            next.hidden = TensorCoding.encode(
                Array(values[(start * width)..<(end * width)]), rows: end - start, width: width,
                as: activation)
            next.returnLogits = step.returnLogits && end == rows
            let bytes = Tessera_V1_ForwardRequest.with { $0.step = next }.wireSize

            let sent = clock.now
            downstream.send(next)
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
            guard end == rows else {
                earlier = Self.add(reply.timings, to: earlier)
                start = end
                continue
            }
            reply.timings = [timing] + Self.add(earlier, to: reply.timings)
            return reply
        }
    }

    /// Per-stage sums of two timing lists of the same pipeline.
    private static func add(_ extra: [Tessera_V1_StageTiming], to base: [Tessera_V1_StageTiming])
        -> [Tessera_V1_StageTiming]
    {
        guard !base.isEmpty else { return extra }
        var sum = base
        for index in sum.indices where index < extra.count {
            sum[index].computeSeconds += extra[index].computeSeconds
            sum[index].sendSeconds += extra[index].sendSeconds
            sum[index].bytesSent += extra[index].bytesSent
        }
        return sum
    }

    /// The stage's input, checked against its role and the model.
    /// `tokens` is `step.tokens`, converted once by the caller.
    private func input(of step: Tessera_V1_ForwardStep, tokens: [Int32]) throws -> (StageInput, Int)
    {
        let hp = shard.hyperparameters
        guard !tokens.isEmpty else {
            throw WorkerError.invalidRequest("step \(step.step) has no token_ids")
        }
        if let bad = tokens.first(where: { $0 < 0 || Int($0) >= hp.vocabularySize }) {
            throw WorkerError.invalidRequest(
                "step \(step.step): token id \(bad) is outside the vocabulary 0..<\(hp.vocabularySize)"
            )
        }
        if shard.stage.isFirst {
            guard !step.hasHidden else {
                throw WorkerError.invalidRequest(
                    "the first stage embeds token_ids itself; step \(step.step) must not carry hidden"
                )
            }
            return (.tokens(tokens), tokens.count)
        }
        guard step.hasHidden else {
            throw WorkerError.invalidRequest(
                "stage \(shard.layers.layerSpan) takes hidden states; step \(step.step) has none")
        }
        let (values, rows) = try TensorCoding.decode(step.hidden, width: hp.embeddingLength)
        guard rows == tokens.count else {
            throw WorkerError.invalidRequest(
                "step \(step.step) carries \(rows) hidden rows but \(tokens.count) token ids")
        }
        return (.hidden(values, count: rows), rows)
    }

    /// Last stage: the next token from the last position's logits.
    private func sample(_ output: StageOutput, step: Tessera_V1_ForwardStep) throws
        -> Tessera_V1_ForwardResponse
    {
        guard case .logits(let logits, _) = output, let sampler else {
            throw WorkerError.internalFailure("the last stage produced no logits")
        }
        let token: Int32
        do {
            token = try sampler.sample(
                logits: logits, recentTokens: history, position: cache.position,
                endOfGeneration: shard.endOfGeneration)
        } catch {
            throw WorkerError.internalFailure("step \(step.step): sampling failed: \(error)")
        }
        var response = Tessera_V1_ForwardResponse()
        response.step = step.step
        response.token = token
        response.topLogits = TopLogits.largest(logits, count: topLogits).map {
            Tessera_V1_TokenLogit(token: $0.id, logit: $0.logit)
        }
        if step.returnLogits { response.logits = logits }
        return response
    }

    private func record(tokens: Int, seconds: Double) {
        environment.state.recordStep(
            layers: shard.layers, tokens: tokens, seconds: seconds,
            weightBytes: shard.stage.weightBytesPerToken)
        WorkerMetrics.step(role: role, tokens: tokens, computeSeconds: seconds)
    }
}
