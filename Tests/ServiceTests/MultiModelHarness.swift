import Foundation
import GRPCCore
import GRPCInProcessTransport
import Integrity
import ServiceKit
import Synchronization
import TesseraProto

@testable import Scheduler

/// Stand-ins for a scheduler serving several models: a cache-manager with a catalog of fake
/// models (sizes the test chooses) that keeps serving marks, and workers that only record the
/// shards they are told to load, can hold a load for ever (a worker that dies while loading)
/// and report what they hold in heartbeats, as real workers do. Each is a gRPC server on
/// 127.0.0.1 in this process; the scheduler under test runs on an in-process transport.
final class MultiModelCatalog: Tessera_V1_CacheManager.SimpleServiceProtocol, Sendable {
    struct FakeModel: Sendable {
        var name: String
        /// 10 layers of this many bytes, and an embedding and output head of 5 % of it each.
        var layerBytes: UInt64
        /// A variant names its parent model (manifest `variant`); a model may carry a
        /// quality budget (VariantPlacementSchedulingTests).
        var parent: String? = nil
        var qualityBudget: Tessera_V1_QualityBudget? = nil
        var sha256: String { String(repeating: "0", count: 56) + Self.suffix(name) }
        var reference: ModelReference { ModelReference(name: name, sha256: sha256) }
        /// A stable 8-hex-digit suffix that tells models apart.
        static func suffix(_ name: String) -> String {
            var hash: UInt32 = 2_166_136_261
            for byte in name.utf8 { hash = (hash ^ UInt32(byte)) &* 16_777_619 }
            return String(format: "%08x", hash)
        }
    }

    let models: [FakeModel]
    private let marks = Mutex<[String: Tessera_V1_ServingMarks]>([:])

    init(_ models: [FakeModel]) { self.models = models }

    func marks(of name: String) -> Tessera_V1_ServingMarks? {
        marks.withLock { $0[name] }
    }

    private func find(_ requested: String) throws -> FakeModel {
        guard let model = models.first(where: { $0.name == requested || $0.sha256 == requested })
        else {
            throw RPCError(code: .notFound, message: "no model '\(requested)'")
        }
        return model
    }

    private func manifest(_ model: FakeModel) -> Tessera_V1_ModelManifest {
        .with {
            $0.model = Tessera_V1_ModelRef(model.reference)
            $0.layerCount = 10
            $0.contextLength = 1024
            $0.layers = Array(
                repeating: .with {
                    $0.weightBytes = model.layerBytes
                    $0.flopsPerToken = 2 * model.layerBytes
                    $0.kvBytesPerToken = 64
                }, count: 10)
            $0.embedding = .with { $0.weightBytes = model.layerBytes / 2 }
            $0.output = .with {
                $0.weightBytes = model.layerBytes / 2
                $0.flopsPerToken = model.layerBytes
            }
            $0.vocabSize = 1000
            $0.activationBytesPerToken = 256
            if let marks = marks.withLock({ $0[model.name] }) { $0.serving = marks }
            if let parent = model.parent {
                $0.variant.parentSha256 = FakeModel(name: parent, layerBytes: 0).sha256
            }
            if let budget = model.qualityBudget { $0.qualityBudget = budget }
        }
    }

    func getModel(
        request: Tessera_V1_GetModelRequest, context: ServerContext
    ) async throws -> Tessera_V1_ModelManifest {
        manifest(try find(request.model))
    }

    func listModels(
        request: Tessera_V1_ListModelsRequest, context: ServerContext
    ) async throws -> Tessera_V1_ListModelsResponse {
        .with { $0.models = models.map(manifest) }
    }

    func setServing(
        request: Tessera_V1_SetServingRequest, context: ServerContext
    ) async throws -> Tessera_V1_ModelManifest {
        let model = try find(request.model)
        marks.withLock { $0[model.name] = request.marks }
        return manifest(model)
    }

    func getShard(
        request: Tessera_V1_GetShardRequest, context: ServerContext
    ) async throws -> Tessera_V1_ShardManifest {
        let model = try find(request.model)
        let layers = request.layers.range ?? 0..<10
        return .with {
            $0.shard = Tessera_V1_ShardRef(
                ShardReference(
                    sha256: String(repeating: "5", count: 48) + FakeModel.suffix(model.name)
                        + String(format: "%08x", layers.lowerBound * 100 + layers.upperBound),
                    model: model.reference, layers: layers))
        }
    }

    func importModel(
        request: Tessera_V1_ImportModelRequest, context: ServerContext
    ) async throws -> Tessera_V1_ImportModelResponse {
        throw RPCError(code: .unimplemented, message: "")
    }

    func downloadShard(
        request: Tessera_V1_DownloadShardRequest, response: RPCWriter<Tessera_V1_ShardChunk>,
        context: ServerContext
    ) async throws { throw RPCError(code: .unimplemented, message: "") }

    func makeVariants(
        request: Tessera_V1_MakeVariantsRequest, response: RPCWriter<Tessera_V1_MakeVariantsEvent>,
        context: ServerContext
    ) async throws { throw RPCError(code: .unimplemented, message: "") }
}

/// A worker that holds shards by reference. A load of a shard of `hangingModel` does not end
/// while it is set: a worker that dies while loading (the test stops its heartbeats).
final class RecordingWorker: Tessera_V1_InferenceWorker.SimpleServiceProtocol, Sendable {
    let id: String
    private let state = Mutex<(loaded: [Tessera_V1_ShardRef], hangingModel: String?)>(([], nil))
    private let prefetches = Mutex<[Tessera_V1_ShardRef]>([])

    init(id: String) { self.id = id }

    var loaded: [Tessera_V1_ShardRef] { state.withLock { $0.loaded } }
    var loadedModels: Set<String> { Set(loaded.map(\.model.name)) }
    /// Shards it was asked to put on its disk (PrefetchShard).
    var prefetched: [Tessera_V1_ShardRef] { prefetches.withLock { $0 } }

    func hang(onModel name: String?) { state.withLock { $0.hangingModel = name } }

    func loadShard(
        request: Tessera_V1_LoadShardRequest, context: ServerContext
    ) async throws -> Tessera_V1_LoadShardResponse {
        while state.withLock({ $0.hangingModel }) == request.shard.model.name {
            try await Task.sleep(for: .milliseconds(50))
        }
        state.withLock { state in
            if !state.loaded.contains(where: { $0.sha256 == request.shard.sha256 }) {
                state.loaded.append(request.shard)
            }
        }
        return .with { $0.sessionSlots = 8 }
    }

    func unloadShard(
        request: Tessera_V1_UnloadShardRequest, context: ServerContext
    ) async throws -> Tessera_V1_UnloadShardResponse {
        state.withLock { $0.loaded.removeAll { $0.sha256 == request.shardSha256 } }
        return .init()
    }

    func getStatus(
        request: Tessera_V1_GetStatusRequest, context: ServerContext
    ) async throws -> Tessera_V1_GetStatusResponse {
        throw RPCError(code: .unimplemented, message: "")
    }

    func prefetchShard(
        request: Tessera_V1_PrefetchShardRequest, context: ServerContext
    ) async throws -> Tessera_V1_PrefetchShardResponse {
        prefetches.withLock { $0.append(request.shard) }
        return .with { $0.downloaded = true }
    }

    func forward(
        request: RPCAsyncSequence<Tessera_V1_ForwardRequest, any Error>,
        response: RPCWriter<Tessera_V1_ForwardResponse>, context: ServerContext
    ) async throws { throw RPCError(code: .unimplemented, message: "") }

    func answers(
        request: Tessera_V1_AnswersRequest, response: RPCWriter<Tessera_V1_ForwardResponse>,
        context: ServerContext
    ) async throws { throw RPCError(code: .unimplemented, message: "") }
}

/// A scheduler (in process) with the default model and a catalog, and workers of
/// `memoryBytes` each that register and send heartbeats every 100 ms while `body` runs.
/// `alive` lists the workers whose heartbeats go on (a test takes one out to kill it).
final class MultiModelCluster: Sendable {
    let catalog: MultiModelCatalog
    let workers: [RecordingWorker]
    let alive: Mutex<Set<String>>

    init(catalog: MultiModelCatalog, workers: [RecordingWorker], alive: Set<String>) {
        self.catalog = catalog
        self.workers = workers
        self.alive = Mutex(alive)
    }

    static func run(
        models: [MultiModelCatalog.FakeModel], workers ids: [String], memoryBytes: UInt64,
        configure: (inout SchedulerConfiguration) -> Void = { _ in },
        _ body: (Tessera_V1_Scheduler.Client<InProcessTransport.Client>, MultiModelCluster)
            async throws -> Void
    ) async throws {
        let catalog = MultiModelCatalog(models)
        let cacheManager = try await ServiceApplication(
            name: "fake-cache-manager", grpcAddress: loopbackAnyPort, httpAddress: nil,
            logger: quietLogger, rpcServices: [catalog]
        ).start()
        let workers = ids.map(RecordingWorker.init)
        var services: [RunningService] = []
        for worker in workers {
            services.append(
                try await ServiceApplication(
                    name: "fake-worker-\(worker.id)", grpcAddress: loopbackAnyPort,
                    httpAddress: nil,
                    logger: quietLogger, rpcServices: [worker]
                ).start())
        }
        var configuration = SchedulerConfiguration()
        configuration.cacheManagerAddress = cacheManager.addresses.grpc
        configuration.model = models[0].name
        configuration.heartbeatInterval = .milliseconds(100)
        configuration.workerExpiry = .seconds(2)
        configuration.contextLength = 256
        configuration.catalogInterval = .milliseconds(200)
        configuration.minimumKeepAlive = .zero
        configure(&configuration)
        let cluster = MultiModelCluster(catalog: catalog, workers: workers, alive: Set(ids))
        try await buildScheduler(configuration, logger: quietLogger).withInProcessServer {
            client async throws in
            let api = Tessera_V1_Scheduler.Client(wrapping: client)
            for (worker, service) in zip(workers, services) {
                _ = try await api.registerWorker(
                    .with {
                        $0.workerID = worker.id
                        $0.address = service.addresses.grpc.description
                        $0.capabilities.memoryBytes = memoryBytes
                        $0.capabilities.cpuCount = 1
                        $0.capabilities.decodeGbps = 10
                        $0.publicKey = Data(SigningIdentity().publicKey)
                    })
            }
            let heartbeats = Task {
                while !Task.isCancelled {
                    let alive = cluster.alive.withLock { $0 }
                    for worker in workers where alive.contains(worker.id) {
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
            try await body(api, cluster)
        }
        for worker in workers { worker.hang(onModel: nil) }
        for service in services { await service.shutdown() }
        await cacheManager.shutdown()
    }

    /// The scheduler's state of each model, by name.
    static func states(_ api: Tessera_V1_Scheduler.Client<InProcessTransport.Client>) async throws
        -> [String: String]
    {
        let models = try await api.listModelStates(.init()).models
        return Dictionary(uniqueKeysWithValues: models.map { ($0.model.name, $0.state) })
    }

    /// Asks for a pipeline until one is granted (the gateway's acquire loop); the lease id.
    static func acquireWhenReady(
        _ api: Tessera_V1_Scheduler.Client<InProcessTransport.Client>, model: String,
        timeout: Duration = .seconds(60)
    ) async throws -> String? {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            do {
                return try await api.acquirePipeline(.with { $0.model = model }).leaseID
            } catch let error as RPCError where error.code == .unavailable {
                try await Task.sleep(for: .milliseconds(50))
            }
        }
        return nil
    }
}
