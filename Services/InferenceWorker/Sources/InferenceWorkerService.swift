import GRPCCore
import ServiceKit
import TesseraProto

/// The worker's gRPC API. Status works now; shard hosting and the forward stream arrive
/// with distributed generation and answer UNIMPLEMENTED until then.
struct InferenceWorkerService: Tessera_V1_InferenceWorker.ServiceProtocol, DescribedService {
    let state: WorkerState

    var healthName: String { "tessera.v1.InferenceWorker" }

    func loadShard(
        request: ServerRequest<Tessera_V1_LoadShardRequest>, context: ServerContext
    ) async throws -> ServerResponse<Tessera_V1_LoadShardResponse> {
        throw RPCError.notImplementedYet("LoadShard: shard download and hosting")
    }

    func unloadShard(
        request: ServerRequest<Tessera_V1_UnloadShardRequest>, context: ServerContext
    ) async throws -> ServerResponse<Tessera_V1_UnloadShardResponse> {
        throw RPCError.notImplementedYet("UnloadShard: shard hosting")
    }

    func getStatus(
        request: ServerRequest<Tessera_V1_GetStatusRequest>, context: ServerContext
    ) async throws -> ServerResponse<Tessera_V1_GetStatusResponse> {
        ServerResponse(
            message: .with {
                $0.workerID = state.workerID
                $0.capabilities = state.capabilities
                $0.load = state.load()
            })
    }

    func forward(
        request: StreamingServerRequest<Tessera_V1_ForwardRequest>, context: ServerContext
    ) async throws -> StreamingServerResponse<Tessera_V1_ForwardResponse> {
        throw RPCError.notImplementedYet("Forward: pipelined forward passes")
    }
}
