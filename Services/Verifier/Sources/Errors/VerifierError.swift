/// What can go wrong in the verifier's API, in its own terms: each case says what the client
/// asked for and why it cannot have it. `VerifierError+GRPC.swift` gives each its status.
enum VerifierError: Error, Sendable, Equatable, CustomStringConvertible {
    case emptyID(rpc: String, field: String)
    case malformedKey(rpc: String, bytes: Int)
    case workerKeyConflict(String)
    case gatewayKeyConflict(String)
    case workerNotFound(rpc: String, String)
    case receiptNotFound(rpc: String, String)
    case stepNotFound(receipt: String, step: UInt64)
    case tooManyRecords(count: Int, limit: Int)
    case batchTooLarge(bytes: Int, limit: Int)
    /// The verifier's own trouble (a shard it cannot fetch): no verdict, the receipt stays
    /// pending and is tried again.
    case replayFailed(receipt: String, reason: String)
    case storeFailed(String)

    var description: String {
        switch self {
        case .emptyID(let rpc, let field): "\(rpc): \(field) is empty"
        case .malformedKey(let rpc, let bytes):
            "\(rpc): public_key must be a 32-byte Ed25519 key, got \(bytes) bytes"
        case .workerKeyConflict(let id):
            "RegisterWorkerKey: worker \(id) is pinned to another key; an operator must remove "
                + "it (RemoveWorker) before it registers a new one"
        case .gatewayKeyConflict(let id):
            "RegisterGatewayKey: gateway \(id) is pinned to another key; a restarted gateway "
                + "registers under a new id"
        case .workerNotFound(let rpc, let id): "\(rpc): no worker \(id) is known to the verifier"
        case .receiptNotFound(let rpc, let id): "\(rpc): no receipt \(id) was submitted"
        case .stepNotFound(let receipt, let step):
            "GetInclusionProof: receipt \(receipt) has no commitments for step \(step)"
        case .tooManyRecords(let count, let limit):
            "SubmitReceipts: \(count) records in one batch; send at most \(limit)"
        case .batchTooLarge(let bytes, let limit):
            "SubmitReceipts: the batch is \(bytes) bytes; send at most \(limit) per call"
        case .replayFailed(let receipt, let reason):
            "AuditReceipt: receipt \(receipt) could not be replayed now (\(reason)); it stays "
                + "pending and is tried again"
        case .storeFailed(let reason): "the verifier's store failed: \(reason)"
        }
    }
}
