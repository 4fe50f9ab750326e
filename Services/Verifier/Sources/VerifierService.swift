import GRPCCore
import Integrity
import ServiceKit
import TesseraProto

/// The verifier's gRPC API: checks requests and converts at the edges; the intake, the
/// auditor and the store do the work. Errors are `VerifierError`s (statuses in
/// `VerifierError+GRPC.swift`); the store's own failures become INTERNAL naming them.
struct VerifierService: Tessera_V1_Verifier.ServiceProtocol, DescribedService {
    var healthName: String { "tessera.v1.Verifier" }
    let store: VerifierStore
    let intake: ReceiptIntake
    let auditor: Auditor
    let reputationPolicy: ReputationPolicy

    func registerWorkerKey(
        request: ServerRequest<Tessera_V1_RegisterWorkerKeyRequest>, context: ServerContext
    ) async throws -> ServerResponse<Tessera_V1_RegisterWorkerKeyResponse> {
        let message = request.message
        let rpc = "RegisterWorkerKey"
        guard !message.workerID.isEmpty else {
            throw VerifierError.emptyID(rpc: rpc, field: "worker_id")
        }
        let key = try Self.key(message.publicKey, rpc: rpc)
        let registration = try await storing {
            try await store.registerWorker(
                id: message.workerID, key: key, deposit: message.deposit, at: VerifierStore.now())
        }
        guard case .pinned(let newly) = registration else {
            throw VerifierError.workerKeyConflict(message.workerID)
        }
        return ServerResponse(message: .with { $0.newlyRegistered = newly })
    }

    func registerGatewayKey(
        request: ServerRequest<Tessera_V1_RegisterGatewayKeyRequest>, context: ServerContext
    ) async throws -> ServerResponse<Tessera_V1_RegisterGatewayKeyResponse> {
        let message = request.message
        let rpc = "RegisterGatewayKey"
        guard !message.gatewayID.isEmpty else {
            throw VerifierError.emptyID(rpc: rpc, field: "gateway_id")
        }
        let key = try Self.key(message.publicKey, rpc: rpc)
        let registration = try await storing {
            try await store.registerGateway(
                id: message.gatewayID, key: key, at: VerifierStore.now())
        }
        guard case .pinned = registration else {
            throw VerifierError.gatewayKeyConflict(message.gatewayID)
        }
        return ServerResponse(message: .init())
    }

    func submitReceipts(
        request: ServerRequest<Tessera_V1_SubmitReceiptsRequest>, context: ServerContext
    ) async throws -> ServerResponse<Tessera_V1_SubmitReceiptsResponse> {
        let records = request.message.records
        // The count first: sizing a batch that is refused anyway is wasted work.
        let bytes =
            records.count > intake.limits.maxRecords ? 0 : ReceiptIntake.size(request.message)
        let summary = try await storing { try await intake.submit(records, bytes: bytes) }
        return ServerResponse(
            message: .with {
                $0.accepted = UInt32(summary.accepted)
                $0.rejected = UInt32(summary.rejected)
                $0.errors = summary.errors
            })
    }

    func getReceipt(
        request: ServerRequest<Tessera_V1_GetReceiptRequest>, context: ServerContext
    ) async throws -> ServerResponse<Tessera_V1_ReceiptStatus> {
        let id = request.message.receiptID
        guard let status = try await storing({ try await store.status(id) }) else {
            throw VerifierError.receiptNotFound(rpc: "GetReceipt", id)
        }
        return ServerResponse(message: Tessera_V1_ReceiptStatus(status))
    }

    func auditReceipt(
        request: ServerRequest<Tessera_V1_AuditReceiptRequest>, context: ServerContext
    ) async throws -> ServerResponse<Tessera_V1_ReceiptStatus> {
        let id = request.message.receiptID
        let status = try await storing { try await auditor.audit(id) }
        return ServerResponse(message: Tessera_V1_ReceiptStatus(status))
    }

    func getInclusionProof(
        request: ServerRequest<Tessera_V1_GetInclusionProofRequest>, context: ServerContext
    ) async throws -> ServerResponse<Tessera_V1_GetInclusionProofResponse> {
        let message = request.message
        guard let stored = try await storing({ try await store.storedRecord(message.receiptID) })
        else {
            throw VerifierError.receiptNotFound(rpc: "GetInclusionProof", message.receiptID)
        }
        guard let proof = InclusionProof(record: stored.record.domain, step: message.step) else {
            throw VerifierError.stepNotFound(receipt: message.receiptID, step: message.step)
        }
        return ServerResponse(message: Tessera_V1_GetInclusionProofResponse(proof))
    }

    func removeWorker(
        request: ServerRequest<Tessera_V1_RemoveVerifiedWorkerRequest>, context: ServerContext
    ) async throws -> ServerResponse<Tessera_V1_RemoveVerifiedWorkerResponse> {
        let id = request.message.workerID
        guard try await storing({ try await store.removeWorker(id: id) }) else {
            throw VerifierError.workerNotFound(rpc: "RemoveWorker", id)
        }
        return ServerResponse(message: .init())
    }

    func getReputation(
        request: ServerRequest<Tessera_V1_GetReputationRequest>, context: ServerContext
    ) async throws -> ServerResponse<Tessera_V1_GetReputationResponse> {
        let id = request.message.workerID
        guard let standing = try await storing({ try await store.standing(id) }) else {
            throw VerifierError.workerNotFound(rpc: "GetReputation", id)
        }
        return ServerResponse(
            message: .with {
                $0.reputation = Tessera_V1_Reputation(reputationPolicy.reputation(standing))
            })
    }

    func listReputations(
        request: ServerRequest<Tessera_V1_ListReputationsRequest>, context: ServerContext
    ) async throws -> ServerResponse<Tessera_V1_ListReputationsResponse> {
        let (standings, share) = try await storing {
            (try await store.standings(), try await store.checkComputeShare())
        }
        return ServerResponse(
            message: .with {
                $0.reputations = standings.map {
                    Tessera_V1_Reputation(reputationPolicy.reputation($0))
                }
                $0.checkComputeShare = share
            })
    }

    /// A 32-byte Ed25519 public key.
    private static func key(_ bytes: some Collection<UInt8>, rpc: String) throws -> [UInt8] {
        guard bytes.count == 32 else {
            throw VerifierError.malformedKey(rpc: rpc, bytes: bytes.count)
        }
        return Array(bytes)
    }

    /// Runs `body`; an error that is not the verifier's own (the database's) becomes
    /// `storeFailed`, so the client sees INTERNAL with the reason rather than UNKNOWN.
    private func storing<Result: Sendable>(_ body: () async throws -> Result) async throws
        -> Result
    {
        do {
            return try await body()
        } catch let error as VerifierError {
            throw error
        } catch let error as RPCError {
            throw error
        } catch {
            throw VerifierError.storeFailed("\(error)")
        }
    }
}
