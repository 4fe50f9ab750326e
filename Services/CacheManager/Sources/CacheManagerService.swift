import GRPCCore
import ServiceKit
import TesseraProto

/// The model store's gRPC API. Importing and sharding models arrive with distributed
/// generation; until then these RPCs answer UNIMPLEMENTED.
struct CacheManagerService: Tessera_V1_CacheManager.ServiceProtocol, DescribedService {
    var healthName: String { "tessera.v1.CacheManager" }

    func importModel(
        request: ServerRequest<Tessera_V1_ImportModelRequest>, context: ServerContext
    ) async throws -> ServerResponse<Tessera_V1_ImportModelResponse> {
        throw RPCError.notImplementedYet("ImportModel: the model catalog")
    }

    func listModels(
        request: ServerRequest<Tessera_V1_ListModelsRequest>, context: ServerContext
    ) async throws -> ServerResponse<Tessera_V1_ListModelsResponse> {
        throw RPCError.notImplementedYet("ListModels: the model catalog")
    }

    func getModel(
        request: ServerRequest<Tessera_V1_GetModelRequest>, context: ServerContext
    ) async throws -> ServerResponse<Tessera_V1_ModelManifest> {
        throw RPCError.notImplementedYet("GetModel: the model catalog")
    }

    func getShard(
        request: ServerRequest<Tessera_V1_GetShardRequest>, context: ServerContext
    ) async throws -> ServerResponse<Tessera_V1_ShardManifest> {
        throw RPCError.notImplementedYet("GetShard: shard cutting")
    }

    func downloadShard(
        request: ServerRequest<Tessera_V1_DownloadShardRequest>, context: ServerContext
    ) async throws -> StreamingServerResponse<Tessera_V1_ShardChunk> {
        throw RPCError.notImplementedYet("DownloadShard: shard streaming")
    }
}
