import GRPCCore
import Logging
import Metrics
import ServiceKit
import TesseraProto

/// The scheduler's gRPC API: worker membership, placement and routing.
struct SchedulerService: Tessera_V1_Scheduler.SimpleServiceProtocol, DescribedService {
    let registry: WorkerRegistry
    let heartbeatInterval: Duration
    let routing: Routing
    let logger: Logger
    /// ServeModel's checks and the cache-manager it records marks in (nil: UNIMPLEMENTED).
    var marker: ServingMarker? = nil
    /// The scheduler's connections to workers (shard loads, pre-staging): a registering
    /// worker's is dropped (nil in tests that dial no worker).
    var workerClients: ClientPool? = nil

    var healthName: String { "tessera.v1.Scheduler" }

    func registerWorker(
        request: Tessera_V1_RegisterWorkerRequest, context: ServerContext
    ) async throws -> Tessera_V1_RegisterWorkerResponse {
        // The worker's address is parsed here, once; the scheduler dials what it stored.
        guard let address = ListenAddress(peer: request.address) else {
            throw InvalidMessage(
                "address", "must be host:port with a port in 1...65535, got '\(request.address)'")
        }
        guard request.hasCapabilities, request.capabilities.memoryBytes > 0,
            request.capabilities.cpuCount > 0
        else {
            throw InvalidMessage("capabilities", "must give memory_bytes > 0 and cpu_count > 0")
        }
        // Every worker signs its commitments; the id is pinned to this key (WorkerRegistry).
        guard request.publicKey.count == 32 else {
            throw InvalidMessage(
                "public_key",
                "must be the worker's 32-byte Ed25519 public key, got \(request.publicKey.count) bytes"
            )
        }
        let id: String
        do {
            id = try registry.register(
                address: address, capabilities: WorkerCapabilities(request.capabilities),
                requestedID: request.workerID, publicKey: Array(request.publicKey),
                readyShards: request.readyShards.map(\.domain))
        } catch {
            logger.warning(
                "worker registration refused",
                metadata: ["address": "\(address)", "reason": "\(error)"])
            throw error
        }
        // A worker registers when its process starts (or the scheduler forgot it). A restarted
        // container keeps its host name but may get a new IP, and a connection made before
        // dials the old one until a 10 s connect timeout: the next call dials afresh.
        workerClients?.remove(address)
        logger.info(
            "worker registered",
            metadata: [
                "worker": "\(id)", "address": "\(address)",
                "ready_shards": "\(request.readyShards.count)",
                "memory_bytes": "\(request.capabilities.memoryBytes)",
                "gflops": "\(request.capabilities.computeGflops)",
            ])
        if registry.worker(id)?.quarantined == true {
            logger.warning(
                "worker registered while quarantined by the verifier: it gets no shards",
                metadata: ["worker": "\(id)"])
        }
        Counter(label: "tessera_scheduler_registrations_total").increment()
        Gauge(label: "tessera_scheduler_workers").record(registry.count)
        return .with {
            $0.workerID = id
            $0.heartbeatIntervalMs = UInt32(clamping: heartbeatInterval.inMilliseconds)
            $0.expiryMs = UInt32(clamping: registry.expiry.inMilliseconds)
        }
    }

    func heartbeat(
        request: Tessera_V1_HeartbeatRequest, context: ServerContext
    ) async throws -> Tessera_V1_HeartbeatResponse {
        guard !request.workerID.isEmpty else { throw InvalidMessage("worker_id", "is required") }
        try registry.heartbeat(
            workerID: request.workerID, load: WorkerLoad(request.load),
            readyShards: request.readyShards.map(\.domain),
            shardCache: request.hasCache ? ShardCacheReport(request.cache) : nil)
        return Tessera_V1_HeartbeatResponse()
    }

    func listWorkers(
        request: Tessera_V1_ListWorkersRequest, context: ServerContext
    ) async throws -> Tessera_V1_ListWorkersResponse {
        .with { $0.workers = registry.workers().map(Tessera_V1_WorkerInfo.init) }
    }

    func getPlacement(
        request: Tessera_V1_GetPlacementRequest, context: ServerContext
    ) async throws -> Tessera_V1_GetPlacementResponse {
        try await routing.placement(request)
    }

    func acquirePipeline(
        request: Tessera_V1_AcquirePipelineRequest, context: ServerContext
    ) async throws -> Tessera_V1_AcquirePipelineResponse {
        try await routing.acquire(request)
    }

    func releasePipeline(
        request: Tessera_V1_ReleasePipelineRequest, context: ServerContext
    ) async throws -> Tessera_V1_ReleasePipelineResponse {
        try await routing.release(request)
        return Tessera_V1_ReleasePipelineResponse()
    }

    func renewLeases(
        request: Tessera_V1_RenewLeasesRequest, context: ServerContext
    ) async throws -> Tessera_V1_RenewLeasesResponse {
        await routing.renew(request)
    }

    func reportFailure(
        request: Tessera_V1_ReportFailureRequest, context: ServerContext
    ) async throws -> Tessera_V1_ReportFailureResponse {
        try await routing.reportFailure(request)
        return Tessera_V1_ReportFailureResponse()
    }

    func removeWorker(
        request: Tessera_V1_RemoveWorkerRequest, context: ServerContext
    ) async throws -> Tessera_V1_RemoveWorkerResponse {
        guard !request.workerID.isEmpty else { throw InvalidMessage("worker_id", "is required") }
        guard registry.forget(request.workerID) else {
            throw SchedulerError.noSuchWorker(request.workerID)
        }
        logger.warning(
            "worker removed by an operator: its id is no longer pinned to its key",
            metadata: ["worker": "\(request.workerID)"])
        Gauge(label: "tessera_scheduler_workers").record(registry.count)
        // Its pipelines stop taking requests now; the plan loop re-plans without it.
        await routing.retireUnplaceable()
        return Tessera_V1_RemoveWorkerResponse()
    }
}
