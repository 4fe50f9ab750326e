import Logging
import Placement
import ServiceKit
import TesseraProto

/// The scheduler's placement and routing RPCs, over the live pipelines of the models it
/// serves (`ServedModels`, kept by the plan loop). A request for a cold model starts its
/// load and is told to wait (UNAVAILABLE, which the gateway retries within its wait limit).
struct Routing: Sendable {
    let registry: WorkerRegistry
    let models: ServedModels
    let logger: Logger
    /// How long a lease lives without renewal (told to the gateway with each lease).
    var leaseTTL: Duration = .seconds(30)
    /// The most a health check after a client's failure report takes (connect, call, close).
    var probeTimeout: Duration = .seconds(2)

    func servedModel(_ requested: String) throws -> ServedModel {
        try models.resolve(requested).model
    }

    func placement(_ request: Tessera_V1_GetPlacementRequest) async throws
        -> Tessera_V1_GetPlacementResponse
    {
        let entry = try models.resolve(request.model)
        let (live, plan, generation) = await entry.pipelines.snapshot()
        let quarantined = registry.workers().filter(\.quarantined)
        let states = await modelStates()
        return .with {
            $0.pipelines = live.map { Self.wire($0, model: entry.model) }
            $0.planGeneration = generation
            $0.summary =
                Self.summary(plan: plan, live: live, quarantined: quarantined)
                + (states.count > 1 || entry.state != .warm
                    ? "\n" + ModelStatesTable.render(states) : "")
        }
    }

    func acquire(_ request: Tessera_V1_AcquirePipelineRequest) async throws
        -> Tessera_V1_AcquirePipelineResponse
    {
        let entry = try models.resolve(request.model)
        let served = entry.model
        let expected = Int(request.expectedTokens == 0 ? 128 : request.expectedTokens)
        // A worker quarantined since the plan loop last retired its pipelines is avoided too.
        let quarantined = registry.workers().filter(\.quarantined).map(\.id)
        // (A session that already runs is not new demand.)
        if !request.alreadyRunning { models.noteRequest(entry.key) }
        do {
            let (pipeline, lease) = try await entry.pipelines.acquire(
                avoiding: Set(request.avoidWorkerIds).union(quarantined), expectedTokens: expected,
                slots: registry.sessionSlots(), beyondCapacity: request.alreadyRunning)
            ServingMetrics.hit(model: entry.name)
            if case .loading = entry.state, let loaded = models.becameReady(entry.key) {
                ServingMetrics.coldStart(model: entry.name, seconds: loaded.inSeconds)
                logger.info(
                    "model warm",
                    metadata: ["model": "\(entry.name)", "load_seconds": "\(loaded.inSeconds)"])
            }
            return .with {
                $0.pipeline = Self.wire(pipeline, model: served)
                $0.leaseID = lease
                $0.leaseTtlMs = UInt32(clamping: leaseTTL.inMilliseconds)
            }
        } catch .noReadyPipeline {
            throw notReady(entry)
        } catch .atCapacity(let saturation) {
            throw SchedulerError.atCapacity(model: served.reference.name, saturation: saturation)
        }
    }

    /// Why a model has no ready pipeline, starting its load when it is cold.
    private func notReady(_ entry: ServedModels.Entry) -> SchedulerError {
        let now = ContinuousClock.now
        let (current, started) = models.requestLoad(entry.key, now: now)
        let entry = current ?? entry
        if started {
            ServingMetrics.miss(model: entry.name)
            logger.info(
                "cold start: loading model for a request", metadata: ["model": "\(entry.name)"])
        }
        switch entry.state {
        case .loading(let since):
            return .modelLoading(model: entry.name, waited: now - since)
        case .evicting:
            return .modelEvicting(model: entry.name)
        case .cold:
            if let refusal = entry.refusal {
                return .noRoom(
                    model: entry.name, reason: refusal.reason,
                    retryAfter: max(refusal.until - now, .seconds(1)))
            }
            return .modelLoading(model: entry.name, waited: .zero)
        case .warm:
            return .noReadyPipeline(model: entry.model.reference.name, workers: registry.count)
        }
    }

    /// Every served model's state, default first (ListModelStates, the summary).
    func modelStates() async -> [ModelStateRow] {
        var rows: [ModelStateRow] = []
        for entry in models.entries() where !entry.unserved {
            let (planned, ready) = await entry.pipelines.replicaCounts()
            let (live, _, _) = await entry.pipelines.snapshot()
            let reserved = live.map(\.contextLength).filter { $0 > 0 }.min()
            let own = entry.model.contextLength > 0 ? entry.model.contextLength : Int.max
            rows.append(
                ModelStateRow(
                    model: entry.model.reference, state: entry.state, replicas: planned,
                    readyReplicas: ready, contextLength: min(own, reserved ?? own),
                    pinReplicas: entry.pinReplicas,
                    idleTimeout: entry.marks.idleTimeout ?? models.defaultIdleTimeout,
                    isDefault: entry.isDefault,
                    weightBytes: entry.model.profile.layers.reduce(0) { $0 + $1.weightBytes }
                        + entry.model.profile.embedding.weightBytes
                        + entry.model.profile.outputHead.weightBytes
                        - entry.model.profile.tiedEmbeddingBytes,
                    reason: entry.state == .cold ? entry.refusal?.reason ?? "" : "",
                    activeRequests: await entry.pipelines.activeLeases,
                    quality: entry.quality?.budget))
        }
        return rows
    }

    /// Lease ids are unique across models: each model's pipelines renew the ones they know,
    /// and a lease none of them knows is unknown.
    func renew(_ request: Tessera_V1_RenewLeasesRequest) async -> Tessera_V1_RenewLeasesResponse {
        var unknown = Set(request.leaseIds)
        for entry in models.entries() {
            let notHere = await entry.pipelines.renew(request.leaseIds)
            unknown.formIntersection(notHere)
        }
        return .with { $0.unknownLeaseIds = request.leaseIds.filter(unknown.contains) }
    }

    func release(_ request: Tessera_V1_ReleasePipelineRequest) async throws {
        guard !request.leaseID.isEmpty else { throw InvalidMessage("lease_id", "is required") }
        for entry in models.entries() { await entry.pipelines.release(request.leaseID) }
    }

    /// Checks the reported worker now instead of waiting for its heartbeats to lapse. The
    /// probe runs in the request's task; if the reporter hangs up meanwhile, the probe's
    /// failure says nothing about the worker, so it is kept. So is a worker that registered
    /// again while the probe ran (a stopped worker that resumed, a restarted one): the failed
    /// probe was about the registration before.
    func reportFailure(_ request: Tessera_V1_ReportFailureRequest) async throws {
        guard !request.workerID.isEmpty else { throw InvalidMessage("worker_id", "is required") }
        guard let worker = registry.worker(request.workerID) else { return }
        if await HealthProbe.isServing(worker.address, timeout: probeTimeout) || Task.isCancelled {
            return
        }
        guard registry.remove(request.workerID, registration: worker.registration) else {
            // Gone already (expired), or registered again: then the probe is not about it.
            if registry.worker(request.workerID) != nil {
                logger.info(
                    "worker kept: it registered again while a health check failed",
                    metadata: ["worker": "\(request.workerID)"])
            }
            return
        }
        logger.warning(
            "worker failed a health check after a client report",
            metadata: ["worker": "\(request.workerID)"])
        await retireUnplaceable()
    }

    /// Pipelines through a worker that is gone or quarantined stop taking requests at once,
    /// without waiting for the plan loop's next tick.
    func retireUnplaceable() async {
        let placeable = registry.placeableIDs()
        for entry in models.entries() { await entry.pipelines.retire(workersNotIn: placeable) }
    }

    static func wire(_ pipeline: LivePipelines.LivePipeline, model: ServedModel)
        -> Tessera_V1_Pipeline
    {
        .with {
            $0.pipelineID = pipeline.id
            $0.model = Tessera_V1_ModelRef(model.reference)
            $0.predictedMsPerToken = pipeline.predictedSecondsPerToken * 1000
            $0.activeRequests = UInt32(pipeline.leases)
            $0.draining = pipeline.draining
            $0.contextLength = UInt32(clamping: pipeline.contextLength)
            $0.stages = pipeline.stages.map { stage in
                .with {
                    $0.workerID = stage.workerID
                    $0.address = stage.address.description
                    $0.layers = Tessera_V1_LayerRange(stage.layers)
                    if let shard = stage.shard { $0.shard = Tessera_V1_ShardRef(shard) }
                    $0.predictedMsPerToken = stage.predictedSeconds * 1000
                    $0.ready = stage.ready
                }
            }
        }
    }

    /// The plan's table, each live pipeline's state, and the quarantined workers (which are
    /// in no new plan; an older pipeline through one drains, and says so).
    static func summary(
        plan: Plan?, live: [LivePipelines.LivePipeline], quarantined: [RegisteredWorker] = []
    ) -> String {
        let quarantinedIDs = Set(quarantined.map(\.id))
        let quarantineLines = quarantined.map {
            "\($0.id): quarantined by the verifier (reputation \(Self.score($0.reputation))), no shards placed"
        }
        guard let plan else {
            return (["no plan yet: waiting for workers and the model manifest"] + quarantineLines)
                .joined(separator: "\n")
        }
        let states = live.map { pipeline in
            var state =
                pipeline.draining ? "draining" : (pipeline.isReady ? "ready" : "loading shards")
            let through = pipeline.stages.map(\.workerID).filter(quarantinedIDs.contains)
            if !through.isEmpty { state += " (quarantined: \(through.joined(separator: ", ")))" }
            return "\(pipeline.id): \(state), \(pipeline.leases) active"
        }
        return ([PlanTable.render(plan)] + states + quarantineLines).joined(separator: "\n")
    }

    private static func score(_ value: Double) -> String {
        String((value * 100).rounded() / 100)
    }
}

extension Routing {
    /// A scheduler serving one model whose manifest comes through `model` (tests that drive
    /// one model's pipelines directly).
    init(
        registry: WorkerRegistry, pipelines: LivePipelines, model: OneShot<ServedModel>,
        logger: Logger, leaseTTL: Duration = .seconds(30), probeTimeout: Duration = .seconds(2)
    ) {
        self.init(
            registry: registry,
            models: ServedModels(defaultName: "", defaultModel: model, defaultPipelines: pipelines),
            logger: logger, leaseTTL: leaseTTL, probeTimeout: probeTimeout)
    }
}
