import Integrity

/// Where a stored receipt stands. PENDING receipts wait (if selected) for a replay; a
/// verdict, VERIFIED or FAILED, is final: it is never replaced, so the reputations it
/// counted are counted once. UNVERIFIABLE is final too and counts nothing.
enum ReceiptState: String, Sendable, Codable {
    /// Signatures, hash chain and root checked; not replayed (yet).
    case pending
    /// Replayed: every stage within the honest-noise band.
    case verified
    /// A worker's statements are proven wrong: see the fault.
    case failed
    /// Its commitments name another engine arithmetic than the verifier computes (workers
    /// and verifier of different versions): a replay would differ for honest workers, so
    /// there is no verdict and nobody's reputation changes. See `reason`.
    case unverifiable
}

/// The worker a receipt's failure is pinned on, and why.
struct WorkerFault: Sendable, Equatable {
    var workerID: String
    var layers: Range<Int>
    var reason: String
    /// Backed by the worker's own valid signatures alone (its input digest against the
    /// recorded tokens, a wrong token, a replayed commitment, a replay that disagrees with
    /// what it signed). Only a proven fault is slashed; the others (a signature that does not
    /// verify with its key, a hash chain broken between two stages) count against the
    /// worker's reputation but cost it nothing.
    var proven: Bool
}

extension WorkerFault {
    /// A replay's fault: the replay recomputed what the worker signed, so it is proven.
    init(_ fault: ReplayFault) {
        self.init(
            workerID: fault.workerID, layers: fault.layers, reason: fault.reason, proven: true)
    }
}

/// A stored receipt as the API reports it.
struct ReceiptStatus: Sendable {
    var receipt: ReceiptBody
    var state: ReceiptState
    var fault: WorkerFault?
    /// Why it failed (the fault's reason) or why it is unverifiable; empty otherwise.
    var reason: String
    var stageChecks: [StageCheckResult]
    /// When the verdict was reached (unix ms); nil while pending.
    var checkedUnixMilliseconds: Int64?
    /// Sent by the verifier itself through the gateway (always replayed).
    var canary: Bool
}
