import Cluster
import Inference
import Placement
import TesseraProto

/// Every request message of every RPC in proto/tessera/v1, then the replies a service acts
/// on. Inputs name their message by its index in `all`, so the saved ones
/// (Fuzz/regressions/protobuf) mean what they meant only while the order stays: add new
/// messages as a group at the end of `all`. Each runs the conversions its receiver runs on it
/// (Shared/TesseraProto/Conversions and the domain parsers they call). Not here: the
/// receipts' Integrity conversions (Integrity needs swift-crypto's BoringSSL, too big to
/// build instrumented; they copy fields and check nothing) and the worker's hidden-state
/// decoding (TensorCoding lives in the InferenceWorker target with gRPC and NIO).
enum WireInputs {
    static let all: [WireInput] =
        gateway + scheduler + cacheManager + enrollment + worker
        + verifier + replies

    static let gateway: [WireInput] = [
        WireInput("gateway.Generate", Examples.generate) { try receiveSampling($0.sampling) },
        WireInput("gateway.Chat", Examples.chat) { try receiveSampling($0.sampling) },
        WireInput("gateway.ListServedModels", Tessera_V1_ListServedModelsRequest()),
    ]

    static let scheduler: [WireInput] = [
        WireInput("scheduler.RegisterWorker", Examples.registerWorker) { request in
            try address(request.address)
            _ = WorkerCapabilities(request.capabilities)
            _ = request.readyShards.map(\.domain)
        },
        WireInput("scheduler.Heartbeat", Examples.heartbeat) { request in
            _ = WorkerLoad(request.load)
            _ = request.readyShards.map(\.domain)
            _ = ShardCacheReport(request.cache)
        },
        WireInput("scheduler.ListWorkers", Tessera_V1_ListWorkersRequest()),
        WireInput("scheduler.GetPlacement", Tessera_V1_GetPlacementRequest.with { $0.model = "m" }),
        WireInput("scheduler.AcquirePipeline", Examples.acquirePipeline),
        WireInput(
            "scheduler.ReleasePipeline", Tessera_V1_ReleasePipelineRequest.with { $0.leaseID = "l" }
        ),
        WireInput(
            "scheduler.RenewLeases",
            Tessera_V1_RenewLeasesRequest.with { $0.leaseIds = ["a", "b"] }),
        WireInput("scheduler.ReportFailure", Examples.reportFailure),
        WireInput(
            "scheduler.RemoveWorker", Tessera_V1_RemoveWorkerRequest.with { $0.workerID = "w" }),
        WireInput("scheduler.ServeModel", Examples.serveModel),
        WireInput("scheduler.ListModelStates", Tessera_V1_ListModelStatesRequest()),
    ]

    static let cacheManager: [WireInput] = [
        WireInput("cache_manager.ImportModel", Examples.importModel),
        WireInput("cache_manager.ListModels", Tessera_V1_ListModelsRequest()),
        WireInput("cache_manager.GetModel", Tessera_V1_GetModelRequest.with { $0.model = "m" }),
        WireInput("cache_manager.GetShard", Examples.getShard) { try range($0.layers) },
        WireInput("cache_manager.DownloadShard", Examples.downloadShard),
        WireInput("cache_manager.SetServing", Examples.setServing),
        WireInput("cache_manager.MakeVariants", Examples.makeVariants),
        WireInput("cache_manager.SetQualityBudget", Examples.setQualityBudget) {
            _ = try $0.budget.domain()
        },
    ]

    static let enrollment: [WireInput] = [
        WireInput("enrollment.GetAuthority", Tessera_V1_GetAuthorityRequest()),
        WireInput("enrollment.Enroll", Examples.enroll),
    ]

    static let worker: [WireInput] = [
        WireInput("inference_worker.LoadShard", Examples.loadShard) { request in
            _ = request.shard.domain
            try address(request.cacheManagerAddress)
        },
        WireInput("inference_worker.UnloadShard", Examples.unloadShard) {
            try hash($0.shardSha256)
        },
        WireInput("inference_worker.GetStatus", Tessera_V1_GetStatusRequest()),
        WireInput("inference_worker.PrefetchShard", Examples.prefetchShard) { request in
            _ = request.shard.domain
            // Empty: the worker's own --cache-manager.
            if !request.cacheManagerAddress.isEmpty { try address(request.cacheManagerAddress) }
        },
        WireInput("inference_worker.Forward.open", Examples.forwardOpen, convert: receiveForward),
        WireInput("inference_worker.Forward.step", Examples.forwardStep, convert: receiveForward),
    ]

    static let verifier: [WireInput] = [
        WireInput("verifier.RegisterWorkerKey", Examples.registerWorkerKey),
        WireInput("verifier.RegisterGatewayKey", Examples.registerGatewayKey),
        WireInput("verifier.SubmitReceipts", Examples.submitReceipts) { request in
            for record in request.records { try receiveSampling(record.sampling) }
        },
        WireInput("verifier.GetReceipt", Tessera_V1_GetReceiptRequest.with { $0.receiptID = "r" }),
        WireInput(
            "verifier.AuditReceipt", Tessera_V1_AuditReceiptRequest.with { $0.receiptID = "r" }),
        WireInput("verifier.GetInclusionProof", Examples.inclusionProof),
        WireInput(
            "verifier.GetReputation", Tessera_V1_GetReputationRequest.with { $0.workerID = "w" }),
        WireInput("verifier.ListReputations", Tessera_V1_ListReputationsRequest()),
        WireInput(
            "verifier.RemoveWorker",
            Tessera_V1_RemoveVerifiedWorkerRequest.with { $0.workerID = "w" }),
    ]

    /// Replies another service trusts: the gateway routes by the scheduler's pipeline and
    /// shows its worker table; the scheduler plans with the cache-manager's manifests.
    static let replies: [WireInput] = [
        WireInput("scheduler.AcquirePipeline.reply", Examples.acquiredPipeline) {
            _ = try PipelineRoute($0.pipeline)
        },
        WireInput("scheduler.ListWorkers.reply", Examples.workerList) { reply in
            for worker in reply.workers {
                _ = WorkerCapabilities(worker.capabilities)
                _ = WorkerLoad(worker.load)
                _ = worker.readyShards.map(\.domain)
            }
        },
        WireInput("cache_manager.GetModel.reply", Examples.manifest, convert: receiveManifest),
        WireInput("inference_worker.Forward.reply", Examples.forwardReply) { reply in
            _ = reply.token
            _ = reply.topLogits.map(\.token)
        },
    ]

    /// What the gateway (a request's settings) and every worker (a session's) do: fill the
    /// defaults, validate (compiling a response format's grammar), check token ids against
    /// a vocabulary, and write the resolved settings for the next hop.
    static func receiveSampling(_ sampling: Tessera_V1_SamplingParams) throws {
        let parameters = try sampling.parameters(defaultMaxTokens: 256)
        try parameters.validate(vocabularySize: 49_152)
        _ = Tessera_V1_SamplingParams(parameters)
    }

    /// A worker's Forward stream: the session's opening (ids, addresses, ranges, sampling),
    /// then steps carrying tokens.
    static func receiveForward(_ request: Tessera_V1_ForwardRequest) throws {
        switch request.kind {
        case .open(let open)?:
            try hash(open.shardSha256)
            _ = open.layers.range
            for hop in open.downstream {
                try address(hop.address)
                try hash(hop.shardSha256)
                _ = hop.layers.range
            }
            try receiveSampling(open.sampling)
        case .step(let step)?:
            _ = step.tokens
        case nil:
            throw Refused("a Forward request with neither open nor step")
        }
    }

    /// The scheduler reads a model's cost from its manifest and plans pipelines with it.
    static func receiveManifest(_ manifest: Tessera_V1_ModelManifest) throws {
        _ = manifest.model.domain
        _ = manifest.shards.map(\.domain)
        // The scheduler's default --context-length.
        _ = try Placement.solve(
            model: manifest.cost, workers: Examples.plannedWorkers,
            options: PlacementOptions(contextLength: 2048))
    }

    static func address(_ text: String) throws {
        guard ListenAddress(peer: text) != nil else { throw Refused("'\(text)' is not host:port") }
    }

    static func hash(_ text: String) throws {
        guard ShardReference.isValidHash(text.lowercased()) else {
            throw Refused("'\(text)' is not a SHA-256")
        }
    }

    static func range(_ layers: Tessera_V1_LayerRange) throws {
        guard let range = layers.range, !range.isEmpty else { throw Refused("no layer range") }
    }
}

/// What a receiver answers INVALID_ARGUMENT to, where the conversion gives an optional.
struct Refused: Error {
    let reason: String
    init(_ reason: String) { self.reason = reason }
}
