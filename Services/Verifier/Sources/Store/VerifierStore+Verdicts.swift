import GRDB

/// What recording a replay's verdict did.
enum VerdictRecording: Sendable {
    /// The verdict is stored, with its reputation and ledger changes.
    case recorded(ReceiptStatus)
    /// The receipt had a verdict already (another replay finished first): this one is
    /// dropped, so nothing is counted twice.
    case alreadyDecided(ReceiptStatus)
}

extension VerifierStore {
    /// Stores a replay's verdict in one transaction: the receipt's state, fault and stage
    /// checks, each stage check counted for its worker (a passed one rewarded), the fault
    /// slashed, and the replay's seconds. nil when no such receipt is stored.
    func recordVerdict(
        _ id: String, outcome: ReplayOutcome, policy: ReputationPolicy, at now: Int64
    ) async throws -> VerdictRecording? {
        try await database.write { db in
            guard var row = try ReceiptRow.fetchOne(db, key: id) else { return nil }
            guard row.state == .pending else { return .alreadyDecided(try Self.status(row)) }
            if let reason = outcome.unverifiableReason {
                // No replay ran: no stage is credited or blamed.
                row.state = .unverifiable
                row.setFault(nil)
                row.reason = reason
                row.checkedAt = now
                try row.update(db)
                return .recorded(try Self.status(row))
            }
            var failedCounted: Set<String> = []
            for check in outcome.stages {
                guard var worker = try WorkerRow.fetchOne(db, key: check.workerID) else { continue }
                if check.passed {
                    worker.checksPassed += 1
                    if policy.reward != 0 {
                        worker.balance += policy.reward
                        var entry = LedgerRow(
                            id: nil, workerId: worker.id, delta: policy.reward, reason: .reward,
                            receiptId: id, at: now)
                        try entry.insert(db)
                    }
                } else {
                    worker.checksFailed += 1
                    failedCounted.insert(worker.id)
                }
                try worker.update(db)
            }
            let fault = Self.fault(of: outcome)
            if let fault {
                try Self.apply(
                    fault, counted: failedCounted.contains(fault.workerID), receiptID: id,
                    policy: policy, at: now, db)
            }
            row.state = fault == nil ? .verified : .failed
            row.setFault(fault)
            row.stageChecks = StageCheckRow.encode(outcome.stages)
            row.checkedAt = now
            row.replaySeconds += outcome.computeSeconds
            try row.update(db)
            return .recorded(try Self.status(row))
        }
    }

    /// The replay's fault, or its first failed stage should a replay report one without
    /// naming a fault: a failed stage check is never stored as VERIFIED.
    static func fault(of outcome: ReplayOutcome) -> WorkerFault? {
        if let fault = outcome.fault { return WorkerFault(fault) }
        return outcome.stages.first { !$0.passed }.map {
            WorkerFault(
                workerID: $0.workerID, layers: $0.layers,
                reason: "the replay's stage check failed (cosine \($0.minCosine), norm error "
                    + "\($0.maxNormError))",
                proven: true)
        }
    }

    /// Counts a fault against its worker (unless a failed stage check counted it already)
    /// and, when proven, slashes it with a ledger entry.
    static func apply(
        _ fault: WorkerFault, counted: Bool, receiptID: String, policy: ReputationPolicy,
        at now: Int64, _ db: Database
    ) throws {
        guard var worker = try WorkerRow.fetchOne(db, key: fault.workerID) else { return }
        if !counted { worker.checksFailed += 1 }
        if fault.proven && policy.slash > 0 {
            worker.balance -= policy.slash
            worker.slashed = true
            var entry = LedgerRow(
                id: nil, workerId: worker.id, delta: -policy.slash, reason: .slash,
                receiptId: receiptID, at: now)
            try entry.insert(db)
        }
        try worker.update(db)
    }
}
