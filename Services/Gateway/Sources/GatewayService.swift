import GRPCCore
import ServiceKit
import TesseraProto

/// The public gRPC API for apps. Generation needs distributed pipelines, which arrive with
/// a later issue; until then these RPCs answer UNIMPLEMENTED.
struct GatewayService: Tessera_V1_Gateway.ServiceProtocol, DescribedService {
    var healthName: String { "tessera.v1.Gateway" }

    func generate(
        request: ServerRequest<Tessera_V1_GenerateRequest>, context: ServerContext
    ) async throws -> StreamingServerResponse<Tessera_V1_GenerateResponse> {
        throw RPCError.notImplementedYet("Generate: distributed generation")
    }

    func chat(
        request: ServerRequest<Tessera_V1_ChatRequest>, context: ServerContext
    ) async throws -> StreamingServerResponse<Tessera_V1_GenerateResponse> {
        throw RPCError.notImplementedYet("Chat: distributed generation")
    }

    func listServedModels(
        request: ServerRequest<Tessera_V1_ListServedModelsRequest>, context: ServerContext
    ) async throws -> ServerResponse<Tessera_V1_ListServedModelsResponse> {
        throw RPCError.notImplementedYet("ListServedModels: the model catalog")
    }
}
