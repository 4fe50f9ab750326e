import GRPCCore
import ServiceKit
import TesseraProto

/// The worker's gRPC API: shard hosting (`LoadShard`, `UnloadShard`), `GetStatus`, and the
/// pipelined `Forward` stream (docs/generation-protocol.md).
struct InferenceWorkerService: Tessera_V1_InferenceWorker.ServiceProtocol, DescribedService {
    let state: WorkerState
    let host: ShardHost
    let stream: ForwardStream
    /// Where shards may come from (`WorkerConfiguration.cacheManagerAddresses`); empty: anywhere.
    let allowedCacheManagers: [ListenAddress]

    var healthName: String { "tessera.v1.InferenceWorker" }

    func loadShard(
        request: ServerRequest<Tessera_V1_LoadShardRequest>, context: ServerContext
    ) async throws -> ServerResponse<Tessera_V1_LoadShardResponse> {
        let message = request.message
        guard message.hasShard, !message.shard.sha256.isEmpty else {
            throw InvalidMessage("shard.sha256", "is missing")
        }
        var cacheManager: ListenAddress?
        if !message.cacheManagerAddress.isEmpty {
            guard let address = ListenAddress(peer: message.cacheManagerAddress) else {
                throw InvalidMessage(
                    "cache_manager_address", "'\(message.cacheManagerAddress)' is not host:port")
            }
            cacheManager = address
        }
        if !allowedCacheManagers.isEmpty {
            if let cacheManager, !allowedCacheManagers.contains(cacheManager) {
                throw RPCError(
                    code: .permissionDenied,
                    message:
                        "cache_manager_address \(cacheManager) is not one this worker fetches from ("
                        + allowedCacheManagers.map(\.description).joined(separator: ", ")
                        + "; its --cache-manager)")
            }
            cacheManager = cacheManager ?? allowedCacheManagers[0]
        }
        let clock = ContinuousClock()
        let started = clock.now
        let result = try await host.load(
            message.shard.domain, cacheManager: cacheManager,
            contextLength: message.contextLength > 0 ? Int(message.contextLength) : nil)
        let seconds = (clock.now - started).inSeconds
        WorkerMetrics.shardLoad(seconds: seconds, downloaded: result.downloaded)
        return ServerResponse(
            message: .with {
                $0.downloaded = result.downloaded
                $0.seconds = seconds
                // With the shard loaded, before the scheduler routes to it.
                $0.sessionSlots = UInt32(clamping: state.slots.limit)
            })
    }

    func unloadShard(
        request: ServerRequest<Tessera_V1_UnloadShardRequest>, context: ServerContext
    ) async throws -> ServerResponse<Tessera_V1_UnloadShardResponse> {
        try await host.unload(request.message.shardSha256)
        return ServerResponse(message: .init())
    }

    func getStatus(
        request: ServerRequest<Tessera_V1_GetStatusRequest>, context: ServerContext
    ) async throws -> ServerResponse<Tessera_V1_GetStatusResponse> {
        ServerResponse(
            message: .with {
                $0.workerID = state.workerID
                $0.capabilities = Tessera_V1_WorkerCapabilities(state.capabilities)
                $0.load = Tessera_V1_WorkerLoad(state.load())
                $0.readyShards = state.wireReadyShards
            })
    }

    func forward(
        request: StreamingServerRequest<Tessera_V1_ForwardRequest>, context: ServerContext
    ) async throws -> StreamingServerResponse<Tessera_V1_ForwardResponse> {
        let requestID = request.metadata[stringValues: RequestID.header].first { _ in true }
        return StreamingServerResponse { writer in
            try await stream.serve(request.messages, writer, requestID: requestID)
            return [:]
        }
    }
}
