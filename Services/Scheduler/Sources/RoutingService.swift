import Logging
import Placement
import ServiceKit
import TesseraProto

/// The scheduler's placement and routing RPCs, over the live pipelines the plan loop keeps.
struct Routing: Sendable {
    let registry: WorkerRegistry
    let pipelines: LivePipelines
    let model: OneShot<ServedModel>
    let logger: Logger
    /// How long a lease lives without renewal (told to the gateway with each lease).
    var leaseTTL: Duration = .seconds(30)
    /// The most a health check after a client's failure report takes (connect, call, close).
    var probeTimeout: Duration = .seconds(2)

    func servedModel(_ requested: String) throws -> ServedModel {
        guard let served = model.current else { throw SchedulerError.modelNotLoaded }
        guard served.matches(requested) else {
            throw SchedulerError.modelNotServed(requested: requested, served: served.reference.name)
        }
        return served
    }

    func placement(_ request: Tessera_V1_GetPlacementRequest) async throws
        -> Tessera_V1_GetPlacementResponse
    {
        let served = try servedModel(request.model)
        let (live, plan, generation) = await pipelines.snapshot()
        let quarantined = registry.workers().filter(\.quarantined)
        return .with {
            $0.pipelines = live.map { Self.wire($0, model: served) }
            $0.planGeneration = generation
            $0.summary = Self.summary(plan: plan, live: live, quarantined: quarantined)
        }
    }

    func acquire(_ request: Tessera_V1_AcquirePipelineRequest) async throws
        -> Tessera_V1_AcquirePipelineResponse
    {
        let served = try servedModel(request.model)
        let expected = Int(request.expectedTokens == 0 ? 128 : request.expectedTokens)
        // A worker quarantined since the plan loop last retired its pipelines is avoided too.
        let quarantined = registry.workers().filter(\.quarantined).map(\.id)
        do {
            let (pipeline, lease) = try await pipelines.acquire(
                avoiding: Set(request.avoidWorkerIds).union(quarantined), expectedTokens: expected,
                slots: registry.sessionSlots(), beyondCapacity: request.alreadyRunning)
            return .with {
                $0.pipeline = Self.wire(pipeline, model: served)
                $0.leaseID = lease
                $0.leaseTtlMs = UInt32(clamping: leaseTTL.inMilliseconds)
            }
        } catch .noReadyPipeline {
            throw SchedulerError.noReadyPipeline(
                model: served.reference.name, workers: registry.count)
        } catch .atCapacity(let saturation) {
            throw SchedulerError.atCapacity(model: served.reference.name, saturation: saturation)
        }
    }

    func renew(_ request: Tessera_V1_RenewLeasesRequest) async -> Tessera_V1_RenewLeasesResponse {
        let unknown = await pipelines.renew(request.leaseIds)
        return .with { $0.unknownLeaseIds = unknown }
    }

    func release(_ request: Tessera_V1_ReleasePipelineRequest) async throws {
        guard !request.leaseID.isEmpty else { throw InvalidMessage("lease_id", "is required") }
        await pipelines.release(request.leaseID)
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
        await pipelines.retire(workersNotIn: registry.placeableIDs())
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
