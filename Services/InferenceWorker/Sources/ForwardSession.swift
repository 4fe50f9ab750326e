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
    /// Largest hidden-state payload per message to the next stage (gRPC refuses messages
    /// over 4 MiB by default); longer prefills go on in several steps.
    let maxActivationBytes: Int
    /// A session with no message from its caller for this long ends (KV cache freed).
    var idleTimeout: Duration = .seconds(300)
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
    var history: [Int32] = []
    let environment: ForwardEnvironment

    var role: String { shard.stage.isFirst ? "first" : shard.stage.isLast ? "last" : "middle" }

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
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}

extension SwiftProtobuf.Message {
    /// Bytes of the message's protobuf encoding (what the hop puts on the wire, less gRPC framing).
    var wireSize: Int { ((try? serializedBytes()) as [UInt8]?)?.count ?? 0 }
}
