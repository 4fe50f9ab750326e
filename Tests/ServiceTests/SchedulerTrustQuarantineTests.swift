import Foundation
import GRPCCore
import GRPCInProcessTransport
import Integrity
import ServiceKit
import Synchronization
import TesseraProto
import Testing

@testable import Scheduler

/// The verifier's quarantine through a whole scheduler (on an in-process transport), with
/// stand-ins for everything it talks to, each a gRPC server on 127.0.0.1 in this process: a
/// verifier whose reputations the test sets, a cache-manager with a small model, and workers
/// that only record the shards they are told to load and unload.
@Suite(.timeLimit(.minutes(3))) struct SchedulerTrustQuarantineTests {
    static let quarantinedMessage =
        "worker quarantined by the verifier: its pipelines are replaced and its shards unloaded"
    static let releasedMessage =
        "worker released from quarantine by the verifier: it may be placed again"
    static let failureMessage =
        "cannot read reputations from the verifier; keeping the last known ones"

    @Test func aQuarantinedWorkerLeavesPlacementAndComesBackWhenReleased() async throws {
        let verifier = FakeVerifier()
        let workers = [FakeWorker(id: "w1"), FakeWorker(id: "w2")]
        let verifierService = try await FakeVerifier.serve(verifier)
        let cacheManager = try await FakeCacheManager.serve()
        var workerServices: [RunningService] = []
        for worker in workers { workerServices.append(try await FakeWorker.serve(worker)) }

        let recorder = LogRecorder()
        var configuration = SchedulerConfiguration()
        configuration.cacheManagerAddress = cacheManager.addresses.grpc
        configuration.model = FakeCacheManager.model.name
        configuration.verifierAddress = verifierService.addresses.grpc
        configuration.reputationPollInterval = .milliseconds(100)
        configuration.heartbeatInterval = .milliseconds(100)
        try await buildScheduler(configuration, logger: recorder.logger).withInProcessServer {
            client async throws in
            let api = Tessera_V1_Scheduler.Client(wrapping: client)
            for (worker, service) in zip(workers, workerServices) {
                _ = try await api.registerWorker(
                    .with {
                        $0.workerID = worker.id
                        $0.address = service.addresses.grpc.description
                        $0.capabilities.memoryBytes = 4 << 30
                        $0.capabilities.cpuCount = 1
                        $0.capabilities.decodeGbps = 10
                        $0.publicKey = Data(SigningIdentity().publicKey)
                    })
            }
            // The workers' heartbeats, with the shards each holds (as real workers send them).
            let heartbeats = Task {
                while !Task.isCancelled {
                    for worker in workers {
                        _ = try? await api.heartbeat(
                            .with {
                                $0.workerID = worker.id
                                $0.readyShards = worker.loaded
                            })
                    }
                    try? await Task.sleep(for: .milliseconds(100))
                }
            }
            defer { heartbeats.cancel() }

            // Both workers serve.
            #expect(
                try await eventually(timeout: .seconds(60)) {
                    await Self.servingWorkers(api) == ["w1", "w2"]
                })

            // The verifier quarantines w1: it leaves the plan, its shard is unloaded, and no
            // lease names it.
            verifier.set([
                Self.reputation("w1", score: 0.2, trust: .quarantined),
                Self.reputation("w2", score: 0.9, trust: .trusted),
            ])
            #expect(
                try await eventually(timeout: .seconds(60)) {
                    let w1 = try await api.listWorkers(.init()).workers.first {
                        $0.workerID == "w1"
                    }
                    return w1?.quarantined == true && w1?.reputation == 0.2
                })
            #expect(
                try await eventually(timeout: .seconds(60)) {
                    let placement = try await api.getPlacement(.init())
                    return Self.placedWorkers(placement) == ["w2"]
                        && Self.readyWorkers(placement) == ["w2"]
                })
            #expect(try await eventually(timeout: .seconds(60)) { workers[0].loaded.isEmpty })
            #expect(workers[0].unloads > 0)
            let held = try await Self.acquire(api, times: 4)
            #expect(held.flatMap(\.workers).allSatisfy { $0 == "w2" })
            try await Self.release(api, held)
            let avoidingW2 = await rpcCode {
                _ = try await api.acquirePipeline(.with { $0.avoidWorkerIds = ["w2"] })
            }
            #expect(avoidingW2 == .unavailable)
            let summary = try await api.getPlacement(.init()).summary
            #expect(
                summary.contains(
                    "w1: quarantined by the verifier (reputation 0.2), no shards placed"))
            #expect(try await api.listWorkers(.init()).workers.count == 2)  // still registered
            #expect(recorder.count(of: Self.quarantinedMessage) == 1)

            // The verifier fails (down, or not serving reputations): the last word stands.
            verifier.setFailing(true)
            #expect(
                try await eventually(timeout: .seconds(60)) {
                    recorder.count(of: Self.failureMessage) == 1
                })
            try await Task.sleep(for: .milliseconds(300))  // a few more failed polls
            #expect(
                try await api.listWorkers(.init()).workers.first { $0.workerID == "w1" }?
                    .quarantined == true)
            #expect(Self.placedWorkers(try await api.getPlacement(.init())) == ["w2"])
            #expect(recorder.count(of: Self.failureMessage) == 1)

            // Released: w1 is placed again and serves.
            verifier.set([
                Self.reputation("w1", score: 0.6, trust: .trusted),
                Self.reputation("w2", score: 0.9, trust: .trusted),
            ])
            verifier.setFailing(false)
            #expect(
                try await eventually(timeout: .seconds(60)) {
                    let w1 = try await api.listWorkers(.init()).workers.first {
                        $0.workerID == "w1"
                    }
                    return w1?.quarantined == false && w1?.reputation == 0.6
                })
            #expect(recorder.count(of: Self.releasedMessage) == 1)
            #expect(recorder.count(of: "verifier reputations available again") == 1)
            #expect(
                try await eventually(timeout: .seconds(60)) {
                    await Self.servingWorkers(api) == ["w1", "w2"]
                })
            let again = try await Self.acquire(api, times: 2)
            #expect(again.flatMap(\.workers).contains("w1"))
            try await Self.release(api, again)
        }
        for service in workerServices { await service.shutdown() }
        await cacheManager.shutdown()
        await verifierService.shutdown()
    }

    static func reputation(_ id: String, score: Double, trust: Tessera_V1_WorkerTrust)
        -> Tessera_V1_Reputation
    {
        .with {
            $0.workerID = id
            $0.score = score
            $0.trust = trust
        }
    }

    /// Workers in the current plan's pipelines (not draining).
    static func placedWorkers(_ placement: Tessera_V1_GetPlacementResponse) -> Set<String> {
        Set(placement.pipelines.filter { !$0.draining }.flatMap(\.stages).map(\.workerID))
    }

    /// Workers in pipelines that take requests (not draining, every stage ready).
    static func readyWorkers(_ placement: Tessera_V1_GetPlacementResponse) -> Set<String> {
        Set(
            placement.pipelines.filter { !$0.draining && $0.stages.allSatisfy(\.ready) }
                .flatMap(\.stages).map(\.workerID))
    }

    static func servingWorkers<Transport: ClientTransport>(
        _ api: Tessera_V1_Scheduler.Client<Transport>
    ) async -> Set<String> {
        guard let placement = try? await api.getPlacement(.init()) else { return [] }
        return readyWorkers(placement)
    }

    /// `times` leases held at once (so the router spreads them over the ready pipelines).
    static func acquire<Transport: ClientTransport>(
        _ api: Tessera_V1_Scheduler.Client<Transport>, times: Int
    ) async throws -> [(lease: String, workers: [String])] {
        var held: [(lease: String, workers: [String])] = []
        for _ in 0..<times {
            let response = try await api.acquirePipeline(.with { $0.expectedTokens = 100 })
            held.append((response.leaseID, response.pipeline.stages.map(\.workerID)))
        }
        return held
    }

    static func release<Transport: ClientTransport>(
        _ api: Tessera_V1_Scheduler.Client<Transport>, _ held: [(lease: String, workers: [String])]
    ) async throws {
        for lease in held { _ = try await api.releasePipeline(.with { $0.leaseID = lease.lease }) }
    }
}

/// Starts `service` alone on 127.0.0.1 (a free port, no HTTP listener).
private func serveOnLoopback(_ service: any RegistrableRPCService, name: String) async throws
    -> RunningService
{
    try await ServiceApplication(
        name: name, grpcAddress: loopbackAnyPort, httpAddress: nil, logger: quietLogger,
        rpcServices: [service]
    ).start()
}

private struct NotInThisTest: Error {}

/// A verifier that answers ListReputations with what the test set, or UNIMPLEMENTED (as the
/// verifier did before it kept reputations) while `failing`. Nothing else.
private final class FakeVerifier: Tessera_V1_Verifier.SimpleServiceProtocol, Sendable {
    private let state = Mutex<(reputations: [Tessera_V1_Reputation], failing: Bool)>(([], false))

    static func serve(_ verifier: FakeVerifier) async throws -> RunningService {
        try await serveOnLoopback(verifier, name: "fake-verifier")
    }

    func set(_ reputations: [Tessera_V1_Reputation]) {
        state.withLock { $0.reputations = reputations }
    }

    func setFailing(_ failing: Bool) {
        state.withLock { $0.failing = failing }
    }

    func listReputations(
        request: Tessera_V1_ListReputationsRequest, context: ServerContext
    ) async throws -> Tessera_V1_ListReputationsResponse {
        let (reputations, failing) = state.withLock { ($0.reputations, $0.failing) }
        if failing { throw RPCError(code: .unimplemented, message: "not in this build") }
        return .with { $0.reputations = reputations }
    }

    func registerWorkerKey(
        request: Tessera_V1_RegisterWorkerKeyRequest, context: ServerContext
    ) async throws -> Tessera_V1_RegisterWorkerKeyResponse { throw NotInThisTest() }

    func registerGatewayKey(
        request: Tessera_V1_RegisterGatewayKeyRequest, context: ServerContext
    ) async throws -> Tessera_V1_RegisterGatewayKeyResponse { throw NotInThisTest() }

    func submitReceipts(
        request: Tessera_V1_SubmitReceiptsRequest, context: ServerContext
    ) async throws -> Tessera_V1_SubmitReceiptsResponse { throw NotInThisTest() }

    func getReceipt(
        request: Tessera_V1_GetReceiptRequest, context: ServerContext
    ) async throws -> Tessera_V1_ReceiptStatus { throw NotInThisTest() }

    func auditReceipt(
        request: Tessera_V1_AuditReceiptRequest, context: ServerContext
    ) async throws -> Tessera_V1_ReceiptStatus { throw NotInThisTest() }

    func getInclusionProof(
        request: Tessera_V1_GetInclusionProofRequest, context: ServerContext
    ) async throws -> Tessera_V1_GetInclusionProofResponse { throw NotInThisTest() }

    func getReputation(
        request: Tessera_V1_GetReputationRequest, context: ServerContext
    ) async throws -> Tessera_V1_GetReputationResponse { throw NotInThisTest() }

    func removeWorker(
        request: Tessera_V1_RemoveVerifiedWorkerRequest, context: ServerContext
    ) async throws -> Tessera_V1_RemoveVerifiedWorkerResponse { throw NotInThisTest() }
}

/// A cache-manager that knows one small model (30 layers of 3 MB, as SchedulerRoutingTests
/// plans with) and names a shard for any layer range. It has no bytes: the fake workers
/// never download.
private struct FakeCacheManager: Tessera_V1_CacheManager.SimpleServiceProtocol {
    static let model = ModelReference(name: "fake-model", sha256: String(repeating: "f", count: 64))

    static func serve() async throws -> RunningService {
        try await serveOnLoopback(FakeCacheManager(), name: "fake-cache-manager")
    }

    func getModel(
        request: Tessera_V1_GetModelRequest, context: ServerContext
    ) async throws -> Tessera_V1_ModelManifest {
        .with {
            $0.model = Tessera_V1_ModelRef(Self.model)
            $0.layerCount = 30
            $0.layers = Array(
                repeating: Self.cost(weightBytes: 3_000_000, flopsPerToken: 6_000_000, kv: 768),
                count: 30)
            $0.embedding = Self.cost(weightBytes: 30_000_000, flopsPerToken: 0)
            $0.output = Self.cost(weightBytes: 30_000_000, flopsPerToken: 60_000_000)
            $0.vocabSize = 49152
            $0.activationBytesPerToken = 2304
        }
    }

    func getShard(
        request: Tessera_V1_GetShardRequest, context: ServerContext
    ) async throws -> Tessera_V1_ShardManifest {
        let layers = request.layers.range ?? 0..<30
        return .with {
            $0.shard = Tessera_V1_ShardRef(
                ShardReference(
                    sha256: String(format: "%064x", layers.lowerBound * 1000 + layers.upperBound),
                    model: Self.model, layers: layers))
        }
    }

    private static func cost(weightBytes: UInt64, flopsPerToken: UInt64, kv: UInt64 = 0)
        -> Tessera_V1_LayerCost
    {
        .with {
            $0.weightBytes = weightBytes
            $0.flopsPerToken = flopsPerToken
            $0.kvBytesPerToken = kv
        }
    }

    func importModel(
        request: Tessera_V1_ImportModelRequest, context: ServerContext
    ) async throws -> Tessera_V1_ImportModelResponse { throw NotInThisTest() }

    func listModels(
        request: Tessera_V1_ListModelsRequest, context: ServerContext
    ) async throws -> Tessera_V1_ListModelsResponse { throw NotInThisTest() }

    func downloadShard(
        request: Tessera_V1_DownloadShardRequest, response: RPCWriter<Tessera_V1_ShardChunk>,
        context: ServerContext
    ) async throws { throw NotInThisTest() }
    func makeVariants(
        request: Tessera_V1_MakeVariantsRequest, response: RPCWriter<Tessera_V1_MakeVariantsEvent>,
        context: ServerContext
    ) async throws { throw NotInThisTest() }
}

/// A worker that holds the shards it was told to load (by reference only), and counts how
/// often it was told to unload one. It computes nothing.
private final class FakeWorker: Tessera_V1_InferenceWorker.SimpleServiceProtocol, Sendable {
    let id: String
    private let state = Mutex<(loaded: [Tessera_V1_ShardRef], unloads: Int)>(([], 0))

    init(id: String) {
        self.id = id
    }

    static func serve(_ worker: FakeWorker) async throws -> RunningService {
        try await serveOnLoopback(worker, name: "fake-worker-\(worker.id)")
    }

    var loaded: [Tessera_V1_ShardRef] { state.withLock { $0.loaded } }
    var unloads: Int { state.withLock { $0.unloads } }

    func loadShard(
        request: Tessera_V1_LoadShardRequest, context: ServerContext
    ) async throws -> Tessera_V1_LoadShardResponse {
        state.withLock { state in
            if !state.loaded.contains(where: { $0.sha256 == request.shard.sha256 }) {
                state.loaded.append(request.shard)
            }
        }
        return .init()
    }

    func unloadShard(
        request: Tessera_V1_UnloadShardRequest, context: ServerContext
    ) async throws -> Tessera_V1_UnloadShardResponse {
        state.withLock { state in
            state.loaded.removeAll { $0.sha256 == request.shardSha256 }
            state.unloads += 1
        }
        return .init()
    }

    func getStatus(
        request: Tessera_V1_GetStatusRequest, context: ServerContext
    ) async throws -> Tessera_V1_GetStatusResponse { throw NotInThisTest() }

    func prefetchShard(
        request: Tessera_V1_PrefetchShardRequest, context: ServerContext
    ) async throws -> Tessera_V1_PrefetchShardResponse { throw NotInThisTest() }

    func forward(
        request: RPCAsyncSequence<Tessera_V1_ForwardRequest, any Error>,
        response: RPCWriter<Tessera_V1_ForwardResponse>, context: ServerContext
    ) async throws { throw NotInThisTest() }

    func answers(
        request: Tessera_V1_AnswersRequest, response: RPCWriter<Tessera_V1_ForwardResponse>,
        context: ServerContext
    ) async throws { throw NotInThisTest() }
}
