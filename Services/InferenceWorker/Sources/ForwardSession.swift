import Foundation
import Inference
import Integrity
import Logging
import ServiceKit

/// What a session needs from its worker.
struct ForwardEnvironment: Sendable {
    let host: ShardHost
    let budget: MemoryBudget
    let clients: ClientPool
    let state: WorkerState
    var logger: Logger
    /// Largest hidden-state payload per message to the next stage (gRPC refuses messages
    /// over 4 MiB by default); longer prefills go on in several steps.
    let maxActivationBytes: Int
    /// A session with no message from its caller for this long ends (KV cache freed).
    var idleTimeout: Duration = .seconds(300)
    /// Signs the session's commitments: the key registered with the scheduler and verifier.
    let identity: SigningIdentity
    /// The test-only faulty worker's runtime faults; nil in every real worker.
    var faults: FaultInjector?
    /// Last stages' answers to direct steps, for the gateway's `Answers` streams.
    let answers = AnswerBoard()
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
    let activation: ActivationEncoding
    var downstream: DownstreamHop?
    /// The tokens so far (last stage: the repetition penalty's window).
    var history: [Int32] = []
    /// Last stage with a JSON response format: what the output may continue with. It has
    /// read `history` from `outputStart` on.
    var constraint: TokenConstraint?
    var outputStart: Int?
    /// The first step's own commitments, kept only by a faulty worker that replays them.
    var firstCommitments: [StepCommitment]?
    /// A direct step whose upstream commitments are still to come (`commitmentsFollow`).
    var awaitingCommitments: AwaitedCommitments?
    let environment: ForwardEnvironment

    var role: String { shard.stage.isFirst ? "first" : shard.stage.isLast ? "last" : "middle" }

    private init(
        id: String, shard: HostedShard, cache: StageSession, kvBytes: UInt64, sampler: Sampler?,
        topLogits: Int,
        activation: ActivationEncoding, environment: ForwardEnvironment
    ) {
        self.id = id
        self.shard = shard
        self.cache = cache
        self.kvBytes = kvBytes
        self.sampler = sampler
        self.topLogits = topLogits
        self.activation = activation
        self.environment = environment
        WorkerMetrics.kvCacheBytes.add(Int64(kvBytes))
    }

    deinit {
        downstream?.close()
        environment.budget.release(kvBytes)
        WorkerMetrics.kvCacheBytes.add(-Int64(kvBytes))
    }

    /// Checks `request` against what this worker hosts and reserves the KV cache.
    static func open(_ request: SessionRequest, environment: ForwardEnvironment) async throws
        -> ForwardSession
    {
        let sha = request.shardSHA256
        guard let shard = await environment.host.shard(sha) else {
            throw WorkerError.shardNotHosted(sha256: sha)
        }
        let stage = shard.stage
        let layers = shard.layers
        let hp = shard.hyperparameters
        if let asked = request.layers, asked != layers {
            throw WorkerError.invalidRequest(
                "open.layers \(asked.layerSpan) do not match shard \(sha), which holds \(layers.layerSpan)"
            )
        }
        let next = try nextStage(of: request, stage: stage)
        // No context asked for means the model's whole context; more than it was trained for is capped.
        let contextLength = min(request.contextLength ?? hp.contextLength, hp.contextLength)
        let sampler = stage.isLast ? try Sampler(parameters: request.sampling) : nil
        let constraint = stage.isLast ? try makeConstraint(request.sampling, shard: shard) : nil

        let precision = KVCachePrecision.f16
        let kvBytes = shard.kvCacheBytes(contextLength: contextLength, precision: precision)
        try environment.budget.charge(
            kvBytes, for: "a KV cache for \(contextLength) tokens over layers \(layers.layerSpan)")
        let cache: StageSession
        do {
            cache = try stage.makeSession(contextLength: contextLength, precision: precision)
        } catch {
            environment.budget.release(kvBytes)
            throw WorkerError.invalidRequest("cannot make a session: \(error)")
        }
        let session = ForwardSession(
            id: request.sessionID, shard: shard, cache: cache, kvBytes: kvBytes, sampler: sampler,
            topLogits: min(request.topLogits, hp.vocabularySize), activation: request.activation,
            environment: environment)
        session.constraint = constraint
        session.outputStart = request.outputStart
        if let next, let nextRequest = request.forNextStage(contextLength: contextLength) {
            session.downstream = DownstreamHop(
                stage: next, request: nextRequest,
                client: try environment.clients.peer(next.address))
        }
        return session
    }

    private static func makeConstraint(_ sampling: SamplingParameters, shard: HostedShard) throws
        -> TokenConstraint?
    {
        guard let grammar = try sampling.responseFormat.grammar() else { return nil }
        guard let vocabulary = shard.tokenVocabulary else {
            throw WorkerError.invalidRequest(
                "response_format \(sampling.responseFormat.kindName) needs the model's vocabulary, which shard \(shard.ref.sha256) does not carry"
            )
        }
        return TokenConstraint(grammar: grammar, vocabulary: vocabulary)
    }

    /// The stage after this one: required unless this stage ends the model, and it must start
    /// where this stage stops.
    private static func nextStage(of request: SessionRequest, stage: TransformerStage)
        throws(WorkerError) -> DownstreamStage?
    {
        let span = stage.layers.layerSpan
        guard !stage.isLast else {
            guard request.downstream.isEmpty else {
                throw .invalidRequest("stage \(span) ends the model; open.downstream must be empty")
            }
            return nil
        }
        guard let next = request.downstream.first else {
            throw .invalidRequest(
                "stage \(span) does not end the model's \(stage.hyperparameters.layerCount) layers; open.downstream must name the next stage"
            )
        }
        if let layers = next.layers, layers.lowerBound != stage.layers.upperBound {
            throw .invalidRequest(
                "open.downstream[0] starts at layer \(layers.lowerBound) but this stage \(span) stops at \(stage.layers.upperBound)"
            )
        }
        return next
    }
}
