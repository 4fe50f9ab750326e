import GRPCCore
import ServiceKit
import TesseraProto

/// The worker's gRPC API: shard hosting (`LoadShard`, `UnloadShard`), `GetStatus`, and the
/// pipelined `Forward` stream (docs/generation-protocol.md).
struct InferenceWorkerService: Tessera_V1_InferenceWorker.ServiceProtocol, DescribedService {
    let state: WorkerState
    let host: ShardHost
    let stream: ForwardStream

    var healthName: String { "tessera.v1.InferenceWorker" }

    func loadShard(
        request: ServerRequest<Tessera_V1_LoadShardRequest>, context: ServerContext
    ) async throws -> ServerResponse<Tessera_V1_LoadShardResponse> {
        guard request.message.hasShard, !request.message.shard.sha256.isEmpty else {
            throw RPCError.invalidArgument("LoadShard needs shard.sha256")
        }
        let clock = ContinuousClock()
        let started = clock.now
        let result = try await host.load(request.message.shard, cacheManager: request.message.cacheManagerAddress)
        let seconds = (clock.now - started).seconds
        WorkerMetrics.shardLoad(seconds: seconds, downloaded: result.downloaded)
        return ServerResponse(
            message: .with {
                $0.downloaded = result.downloaded
                $0.seconds = seconds
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
                $0.capabilities = state.capabilities
                $0.load = state.load()
                $0.readyShards = state.readyShards
            })
    }

    func forward(
        request: StreamingServerRequest<Tessera_V1_ForwardRequest>, context: ServerContext
    ) async throws -> StreamingServerResponse<Tessera_V1_ForwardResponse> {
        StreamingServerResponse { writer in
            try await stream.serve(request.messages, writer)
            return [:]
        }
    }
}
