/// How far the verifier trusts a worker, which sets how often its receipts are replayed.
enum WorkerTrust: Sendable, Equatable {
    /// Fewer passed checks than the trust threshold: checked at the high rate.
    case new
    /// Enough passed checks and a good score: checked at the low rate.
    case trusted
    /// Score below the quarantine threshold: no placement, every receipt checked.
    case quarantined
}

/// What the store keeps about a worker.
struct WorkerStanding: Sendable, Equatable {
    var workerID: String
    /// The pinned key; nil once an operator removed the worker (its history stays).
    var publicKey: [UInt8]?
    var checksPassed: Int
    var checksFailed: Int
    /// Everything it put up (ledger units).
    var deposit: Int64
    /// deposit + rewards − slashes; below zero once slashes exceed what it deposited.
    var balance: Int64
    /// At least one proven fault was slashed.
    var slashed: Bool
}

/// A worker's standing with the score and trust the reputation policy gives it.
struct Reputation: Sendable, Equatable {
    var standing: WorkerStanding
    var score: Double
    var trust: WorkerTrust
}
