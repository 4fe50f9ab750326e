import Foundation
import GRPCCore
import Inference
import Logging
import ServiceKit
import SwiftProtobuf
import TesseraProto

/// What a session needs from its worker.
struct ForwardEnvironment: Sendable {
    let host: ShardHost
    let budget: MemoryBudget
    let clients: PeerClients
    let state: WorkerState
    let logger: Logger
}

/// One session of one `Forward` stream on this worker: the KV cache of its layers, the
/// stream to the next stage (middle stages) or the sampler (last stage).
/// Used by one task at a time; the KV cache's budget share is returned on deinit.
final class ForwardSession {
    let id: String
    let shard: HostedShard
    let cache: StageSession
    let kvBytes: UInt64
    let sampler: Sampler?
    let topLogits: Int
    let activationDType: Tessera_V1_DType
    var downstream: DownstreamHop?
    /// The tokens so far (last stage: the repetition penalty's window).
    private var history: [Int32] = []
    private let environment: ForwardEnvironment

    private var role: String { shard.stage.isFirst ? "first" : shard.stage.isLast ? "last" : "middle" }

    private init(
        id: String, shard: HostedShard, cache: StageSession, kvBytes: UInt64, sampler: Sampler?, topLogits: Int,
        activationDType: Tessera_V1_DType, environment: ForwardEnvironment
    ) {
        self.id = id
        self.shard = shard
        self.cache = cache
        self.kvBytes = kvBytes
        self.sampler = sampler
        self.topLogits = topLogits
        self.activationDType = activationDType
        self.environment = environment
    }

    deinit {
        downstream?.close()
        environment.budget.release(kvBytes)
    }

    /// Checks `open` against what this worker hosts and reserves the KV cache.
    static func open(_ open: Tessera_V1_SessionOpen, environment: ForwardEnvironment) async throws -> ForwardSession {
        guard !open.sessionID.isEmpty else { throw RPCError.invalidArgument("open.session_id is empty") }
        let sha = open.shardSha256.lowercased()
        guard ShardFiles.isValidHash(sha) else {
            throw RPCError.invalidArgument("open.shard_sha256 '\(open.shardSha256)' is not 64 hexadecimal digits")
        }
        guard let shard = await environment.host.shard(sha) else {
            throw RPCError(code: .failedPrecondition, message: "this worker does not host shard \(sha); LoadShard it first")
        }
        let stage = shard.stage, layers = shard.layers, hp = shard.hyperparameters
        let span = "[\(layers.lowerBound), \(layers.upperBound))"
        if open.layers.first != 0 || open.layers.last != 0, open.layers.first != layers.lowerBound || open.layers.last != layers.upperBound {
            throw RPCError.invalidArgument(
                "open.layers [\(open.layers.first), \(open.layers.last)) do not match shard \(sha), which holds \(span)")
        }
        let next = try nextHop(of: open, stage: stage, span: span)
        let parameters = try SamplingMapping.parameters(open.sampling)
        let dtype = open.activationDtype == .unspecified ? Tessera_V1_DType.f32 : open.activationDtype
        guard dtype == .f32 || dtype == .f16 else {
            throw RPCError.invalidArgument("open.activation_dtype \(open.activationDtype) is not F32 or F16")
        }
        // 0 asks for the model's whole context; more than the model was trained for is capped.
        let contextLength = open.contextLength == 0 ? hp.contextLength : min(Int(open.contextLength), hp.contextLength)

        let precision = KVCachePrecision.f16
        let kvBytes = UInt64(2 * layers.count * contextLength * hp.kvWidth * precision.bytesPerValue)
        guard environment.budget.reserve(kvBytes) else {
            throw RPCError(
                code: .resourceExhausted,
                message: "a KV cache for \(contextLength) tokens over layers \(span) needs \(kvBytes >> 20) MiB; "
                    + "\(environment.budget.freeBytes >> 20) MiB of the worker's memory budget is free")
        }
        let cache: StageSession
        do {
            cache = try stage.makeSession(contextLength: contextLength, precision: precision)
        } catch {
            environment.budget.release(kvBytes)
            throw RPCError.invalidArgument("cannot make a session: \(error)")
        }
        let session = ForwardSession(
            id: open.sessionID, shard: shard, cache: cache, kvBytes: kvBytes,
            sampler: stage.isLast ? try Sampler(parameters: parameters) : nil,
            topLogits: min(Int(open.topLogits), hp.vocabularySize), activationDType: dtype, environment: environment)
        if let next {
            var nextOpen = open
            nextOpen.shardSha256 = next.shardSha256
            nextOpen.layers = next.layers
            nextOpen.downstream = Array(open.downstream.dropFirst())
            nextOpen.contextLength = UInt32(contextLength)
            nextOpen.activationDtype = dtype
            session.downstream = DownstreamHop(
                hop: next, client: try environment.clients.client(for: next.address), open: nextOpen)
        }
        return session
    }

    /// The hop after this stage: required unless this stage ends the model, and it must start
    /// where this stage stops.
    private static func nextHop(
        of open: Tessera_V1_SessionOpen, stage: TransformerStage, span: String
    ) throws -> Tessera_V1_PipelineHop? {
        guard !stage.isLast else {
            guard open.downstream.isEmpty else {
                throw RPCError.invalidArgument("stage \(span) ends the model; open.downstream must be empty")
            }
            return nil
        }
        guard let next = open.downstream.first else {
            throw RPCError.invalidArgument(
                "stage \(span) does not end the model's \(stage.hyperparameters.layerCount) layers; open.downstream must name the next stage")
        }
        guard ListenAddress(parsing: next.address) != nil else {
            throw RPCError.invalidArgument("open.downstream[0].address '\(next.address)' is not host:port")
        }
        guard ShardFiles.isValidHash(next.shardSha256.lowercased()) else {
            throw RPCError.invalidArgument("open.downstream[0].shard_sha256 '\(next.shardSha256)' is not 64 hexadecimal digits")
        }
        if next.layers.first != 0 || next.layers.last != 0, Int(next.layers.first) != stage.layers.upperBound {
            throw RPCError.invalidArgument(
                "open.downstream[0] starts at layer \(next.layers.first) but this stage \(span) stops at \(stage.layers.upperBound)")
        }
        return next
    }

    /// Runs one step through this stage and, for a middle stage, the rest of the pipeline.
    func step(_ step: Tessera_V1_ForwardStep) async throws -> Tessera_V1_ForwardResponse {
        let position = Int(step.position)
        let held = cache.position
        guard position <= held else {
            throw RPCError(
                code: .failedPrecondition,
                message: "step \(step.step) starts at position \(position) but the session holds \(held) tokens "
                    + "(a step continues at the session's length, or goes back to rewind)")
        }
        let (input, count) = try input(of: step)
        guard position + count <= cache.contextLength else {
            throw RPCError(
                code: .outOfRange,
                message: "step \(step.step): \(count) token(s) at position \(position) exceed the session's context of \(cache.contextLength)")
        }
        if position < held { cache.truncate(to: position) }  // rewind
        history.removeSubrange(min(position, history.count)...)
        history += step.tokenIds.map { Int32(bitPattern: $0) }

        let clock = ContinuousClock()
        let started = clock.now
        let stage = shard.stage, cache = self.cache
        let output: StageOutput
        do {
            output = try await shard.run { try stage.forward(input, session: cache) }
        } catch let error as InferenceError {
            throw RPCError(code: .invalidArgument, message: "step \(step.step): \(error)")
        }
        var timing = Tessera_V1_StageTiming()
        timing.workerID = environment.state.workerID

        guard let downstream else {
            var response = try sample(output, step: step)
            timing.computeSeconds = (clock.now - started).seconds
            timing.bytesSent = UInt64(response.wireSize)
            response.timings = [timing]
            record(tokens: count, seconds: timing.computeSeconds)
            return response
        }
        timing.computeSeconds = (clock.now - started).seconds
        record(tokens: count, seconds: timing.computeSeconds)

        guard case .hidden(let values, let rows) = output else {
            throw RPCError(code: .internalError, message: "stage \(stage.layers) returned logits but is not the last stage")
        }
        var next = Tessera_V1_ForwardStep()
        next.step = step.step
        next.position = step.position
        next.tokenIds = step.tokenIds
        next.hidden = TensorCoding.encode(values, rows: rows, width: shard.hyperparameters.embeddingLength, as: activationDType)
        next.returnLogits = step.returnLogits
        let bytes = Tessera_V1_ForwardRequest.with { $0.step = next }.wireSize

        let sent = clock.now
        downstream.send(next)
        var reply = try await downstream.nextReply()
        let waited = (clock.now - sent).seconds
        guard reply.step == step.step else {
            throw RPCError(code: .internalError, message: "the next stage answered step \(reply.step) to step \(step.step)")
        }
        let downstreamSeconds = reply.timings.reduce(0) { $0 + $1.computeSeconds + $1.sendSeconds }
        timing.sendSeconds = max(0, waited - downstreamSeconds)
        timing.bytesSent = UInt64(bytes)
        WorkerMetrics.hop(overheadSeconds: timing.sendSeconds, bytes: bytes)
        reply.timings.insert(timing, at: 0)
        return reply
    }

    /// The stage's input, checked against its role and the model.
    private func input(of step: Tessera_V1_ForwardStep) throws -> (StageInput, Int) {
        let hp = shard.hyperparameters
        guard !step.tokenIds.isEmpty else { throw RPCError.invalidArgument("step \(step.step) has no token_ids") }
        if let bad = step.tokenIds.first(where: { Int($0) >= hp.vocabularySize }) {
            throw RPCError.invalidArgument("step \(step.step): token id \(bad) is outside the vocabulary 0..<\(hp.vocabularySize)")
        }
        if shard.stage.isFirst {
            guard !step.hasHidden else {
                throw RPCError.invalidArgument("the first stage embeds token_ids itself; step \(step.step) must not carry hidden")
            }
            return (.tokens(step.tokenIds.map { Int32(bitPattern: $0) }), step.tokenIds.count)
        }
        guard step.hasHidden else {
            throw RPCError.invalidArgument(
                "stage [\(shard.layers.lowerBound), \(shard.layers.upperBound)) takes hidden states; step \(step.step) has none")
        }
        let (values, rows) = try TensorCoding.decode(step.hidden, width: hp.embeddingLength)
        guard rows == step.tokenIds.count else {
            throw RPCError.invalidArgument("step \(step.step) carries \(rows) hidden rows but \(step.tokenIds.count) token ids")
        }
        return (.hidden(values, count: rows), rows)
    }

    /// Last stage: the next token from the last position's logits.
    private func sample(_ output: StageOutput, step: Tessera_V1_ForwardStep) throws -> Tessera_V1_ForwardResponse {
        guard case .logits(let logits, _) = output, let sampler else {
            throw RPCError(code: .internalError, message: "the last stage produced no logits")
        }
        let token: Int32
        do {
            token = try sampler.sample(
                logits: logits, recentTokens: history, position: cache.position, endOfGeneration: shard.endOfGeneration)
        } catch {
            throw RPCError(code: .internalError, message: "step \(step.step): sampling failed: \(error)")
        }
        var response = Tessera_V1_ForwardResponse()
        response.step = step.step
        response.tokenID = UInt32(bitPattern: token)
        response.topLogits = TopLogits.largest(logits, count: topLogits).map { entry in
            .with {
                $0.tokenID = UInt32(entry.id)
                $0.logit = entry.logit
            }
        }
        if step.returnLogits { response.logits = logits }
        return response
    }

    private func record(tokens: Int, seconds: Double) {
        environment.state.recordStep(
            layers: shard.layers, tokens: tokens, seconds: seconds, weightBytes: shard.stage.weightBytesPerToken)
        WorkerMetrics.step(role: role, tokens: tokens, computeSeconds: seconds)
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}

extension SwiftProtobuf.Message {
    /// Bytes of the message's protobuf encoding (what the hop puts on the wire, less gRPC framing).
    var wireSize: Int { ((try? serializedBytes()) as [UInt8]?)?.count ?? 0 }
}
