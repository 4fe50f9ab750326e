import GRPCCore
import ServiceKit
import TesseraProto

/// The verifier's gRPC API. Commitment checking and reputations arrive with the
/// proof-of-inference issue; until then these RPCs answer UNIMPLEMENTED.
struct VerifierService: Tessera_V1_Verifier.ServiceProtocol, DescribedService {
    var healthName: String { "tessera.v1.Verifier" }

    func registerWorkerKey(
        request: ServerRequest<Tessera_V1_RegisterWorkerKeyRequest>, context: ServerContext
    ) async throws -> ServerResponse<Tessera_V1_RegisterWorkerKeyResponse> {
        throw RPCError.notImplementedYet("RegisterWorkerKey: worker signing keys")
    }

    func submitCommitments(
        request: ServerRequest<Tessera_V1_SubmitCommitmentsRequest>, context: ServerContext
    ) async throws -> ServerResponse<Tessera_V1_SubmitCommitmentsResponse> {
        throw RPCError.notImplementedYet("SubmitCommitments: commitment checking")
    }

    func getReputation(
        request: ServerRequest<Tessera_V1_GetReputationRequest>, context: ServerContext
    ) async throws -> ServerResponse<Tessera_V1_GetReputationResponse> {
        throw RPCError.notImplementedYet("GetReputation: reputations")
    }

    func listReputations(
        request: ServerRequest<Tessera_V1_ListReputationsRequest>, context: ServerContext
    ) async throws -> ServerResponse<Tessera_V1_ListReputationsResponse> {
        throw RPCError.notImplementedYet("ListReputations: reputations")
    }
}
