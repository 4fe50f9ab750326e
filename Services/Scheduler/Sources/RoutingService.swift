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
        return .with {
            $0.pipelines = live.map { Self.wire($0, model: served) }
            $0.planGeneration = generation
            $0.summary = Self.summary(plan: plan, live: live)
        }
    }

    func acquire(_ request: Tessera_V1_AcquirePipelineRequest) async throws
        -> Tessera_V1_AcquirePipelineResponse
    {
        let served = try servedModel(request.model)
        let expected = Int(request.expectedTokens == 0 ? 128 : request.expectedTokens)
        do {
            let (pipeline, lease) = try await pipelines.acquire(
                avoiding: Set(request.avoidWorkerIds), expectedTokens: expected)
            return .with {
                $0.pipeline = Self.wire(pipeline, model: served)
                $0.leaseID = lease
                $0.leaseTtlMs = UInt32(clamping: leaseTTL.inMilliseconds)
            }
        } catch {
            throw SchedulerError.noReadyPipeline(
                model: served.reference.name, workers: registry.count)
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
        await pipelines.retire(workersNotIn: Set(registry.workers().map(\.id)))
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

    static func summary(plan: Plan?, live: [LivePipelines.LivePipeline]) -> String {
        guard let plan else { return "no plan yet: waiting for workers and the model manifest" }
        let states = live.map {
            "\($0.id): \($0.draining ? "draining" : ($0.isReady ? "ready" : "loading shards")), \($0.leases) active"
        }
        return PlanTable.render(plan) + "\n" + states.joined(separator: "\n")
    }
}
