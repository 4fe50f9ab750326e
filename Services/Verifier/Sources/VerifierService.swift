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

    func registerGatewayKey(
        request: ServerRequest<Tessera_V1_RegisterGatewayKeyRequest>, context: ServerContext
    ) async throws -> ServerResponse<Tessera_V1_RegisterGatewayKeyResponse> {
        throw RPCError.notImplementedYet("RegisterGatewayKey")
    }

    func submitReceipts(
        request: ServerRequest<Tessera_V1_SubmitReceiptsRequest>, context: ServerContext
    ) async throws -> ServerResponse<Tessera_V1_SubmitReceiptsResponse> {
        throw RPCError.notImplementedYet("SubmitReceipts")
    }

    func getReceipt(
        request: ServerRequest<Tessera_V1_GetReceiptRequest>, context: ServerContext
    ) async throws -> ServerResponse<Tessera_V1_ReceiptStatus> {
        throw RPCError.notImplementedYet("GetReceipt")
    }

    func auditReceipt(
        request: ServerRequest<Tessera_V1_AuditReceiptRequest>, context: ServerContext
    ) async throws -> ServerResponse<Tessera_V1_ReceiptStatus> {
        throw RPCError.notImplementedYet("AuditReceipt")
    }

    func getInclusionProof(
        request: ServerRequest<Tessera_V1_GetInclusionProofRequest>, context: ServerContext
    ) async throws -> ServerResponse<Tessera_V1_GetInclusionProofResponse> {
        throw RPCError.notImplementedYet("GetInclusionProof")
    }

    func removeWorker(
        request: ServerRequest<Tessera_V1_RemoveVerifiedWorkerRequest>, context: ServerContext
    ) async throws -> ServerResponse<Tessera_V1_RemoveVerifiedWorkerResponse> {
        throw RPCError.notImplementedYet("RemoveWorker")
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
