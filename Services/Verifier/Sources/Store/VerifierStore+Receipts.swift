import Foundation
import GRDB
import Integrity
import TesseraProto

/// What the intake reads before checking one record.
struct IntakeContext: Sendable {
    /// The stored record with this receipt id, serialized (nil: a new id).
    var existing: Data?
    var gatewayKey: [UInt8]?
    var workerKeys: [String: [UInt8]]
    /// Those of the record's commitment signatures that other receipts already hold.
    var storedSignatures: Set<[UInt8]>
    var standings: [WorkerStanding]
}

/// A checked record, ready to store.
struct NewReceipt: Sendable {
    var id: String
    /// The wire record, serialized deterministically (`ReceiptIntake.serialize`).
    var record: Data
    var receipt: Data
    var gatewayID: String
    var signatures: [[UInt8]]
    /// nil: stored PENDING; else FAILED against this worker.
    var fault: WorkerFault?
    var wanted: Bool
    var servingSeconds: Double
    var submittedAt: Int64
}

/// What storing a record did.
enum ReceiptInsertion: Sendable, Equatable {
    /// Stored, with the state it was stored in and whether the checker will replay it.
    case stored(state: ReceiptState, wanted: Bool, canary: Bool)
    /// The same record was stored before (a gateway's retry): nothing changed.
    case resubmitted
    /// Another record was stored under this id.
    case conflicting
}

/// A stored record, for a replay or a proof.
struct StoredRecord: Sendable {
    var state: ReceiptState
    var record: Tessera_V1_ReceiptRecord
}

extension VerifierStore {
    func intakeContext(
        receiptID: String, gatewayID: String, workers: Set<String>, signatures: [[UInt8]]
    ) async throws -> IntakeContext {
        try await database.read { db in
            IntakeContext(
                existing: try Data.fetchOne(
                    db, sql: "SELECT record FROM receipt WHERE id = ?", arguments: [receiptID]),
                gatewayKey: try Self.gatewayKey(db, id: gatewayID),
                workerKeys: try Self.pinnedKeys(db, workers: workers),
                storedSignatures: try Self.storedSignatures(db, among: signatures),
                standings: try WorkerRow.filter(keys: Array(workers)).fetchAll(db).map(\.standing))
        }
    }

    /// Stores a checked record in one transaction: the receipt, its commitments' signatures,
    /// and (for a FAILED one) the fault's count, slash and ledger entry. `recheck` runs when
    /// another receipt stored some of these signatures since the record was checked (two
    /// gateways racing with the same commitment): it gives the fault that makes.
    func insert(
        _ new: NewReceipt, policy: ReputationPolicy,
        recheck: @escaping @Sendable (Set<[UInt8]>) -> WorkerFault?
    ) async throws -> ReceiptInsertion {
        try await database.write { db in
            if let existing = try Data.fetchOne(
                db, sql: "SELECT record FROM receipt WHERE id = ?", arguments: [new.id])
            {
                return existing == new.record ? .resubmitted : .conflicting
            }
            var fault = new.fault
            if fault == nil {
                let stored = try Self.storedSignatures(db, among: new.signatures)
                if !stored.isEmpty { fault = recheck(stored) }
            }
            let canary =
                try Bool.fetchOne(
                    db, sql: "SELECT 1 FROM canary WHERE receipt_id = ?", arguments: [new.id])
                ?? false
            let state: ReceiptState = fault == nil ? .pending : .failed
            var row = ReceiptRow(
                id: new.id, record: new.record, receipt: new.receipt, gatewayId: new.gatewayID,
                state: state, faultWorkerId: nil, faultFirstLayer: nil, faultLastLayer: nil,
                faultProven: false, reason: "", stageChecks: "[]",
                checkedAt: fault == nil ? nil : new.submittedAt, canary: canary,
                wanted: fault == nil && (new.wanted || canary), submittedAt: new.submittedAt,
                servingSeconds: new.servingSeconds, replaySeconds: 0, replayAttempts: 0,
                retryAt: 0)
            row.setFault(fault)
            try row.insert(db)
            for signature in Set(new.signatures) {
                try db.execute(
                    sql:
                        "INSERT OR IGNORE INTO commitment_signature (signature, receipt_id) VALUES (?, ?)",
                    arguments: [Data(signature), new.id])
            }
            if let fault {
                try Self.apply(
                    fault, counted: false, receiptID: new.id, policy: policy, at: new.submittedAt,
                    db)
            }
            return .stored(state: state, wanted: row.wanted, canary: canary)
        }
    }

    static func storedSignatures(_ db: Database, among signatures: [[UInt8]]) throws -> Set<
        [UInt8]
    > {
        var found: Set<[UInt8]> = []
        // In slices: SQLite bounds the number of parameters of one statement.
        var start = 0
        while start < signatures.count {
            let slice = signatures[start..<min(start + 500, signatures.count)]
            let marks = Array(repeating: "?", count: slice.count).joined(separator: ",")
            let rows = try Data.fetchAll(
                db, sql: "SELECT signature FROM commitment_signature WHERE signature IN (\(marks))",
                arguments: StatementArguments(slice.map { Data($0) }))
            for row in rows { found.insert(Array(row)) }
            start += 500
        }
        return found
    }

    // MARK: Reading

    func status(_ id: String) async throws -> ReceiptStatus? {
        try await database.read { db in try ReceiptRow.fetchOne(db, key: id).map(Self.status) }
    }

    static func status(_ row: ReceiptRow) throws -> ReceiptStatus {
        ReceiptStatus(
            receipt: try Tessera_V1_Receipt(serializedBytes: row.receipt).domain, state: row.state,
            fault: row.fault, reason: row.reason,
            stageChecks: StageCheckRow.decode(row.stageChecks),
            checkedUnixMilliseconds: row.checkedAt, canary: row.canary)
    }

    func storedRecord(_ id: String) async throws -> StoredRecord? {
        let found = try await database.read { db in
            try Row.fetchOne(
                db, sql: "SELECT state, record FROM receipt WHERE id = ?", arguments: [id]
            )
            .map { (row: Row) -> (ReceiptState, Data) in (row["state"], row["record"]) }
        }
        guard let (state, bytes) = found else { return nil }
        return StoredRecord(
            state: state, record: try Tessera_V1_ReceiptRecord(serializedBytes: bytes))
    }

    // MARK: The replay queue

    /// The next receipt the checker should replay: canaries first, then in arrival order,
    /// skipping those waiting out a retry delay.
    func nextWanted(at now: Int64) async throws -> String? {
        try await database.read { db in
            try String.fetchOne(
                db,
                sql: """
                    SELECT id FROM receipt WHERE state = ? AND wanted = 1 AND retry_at <= ?
                    ORDER BY canary DESC, rowid LIMIT 1
                    """, arguments: [ReceiptState.pending, now])
        }
    }

    /// When the earliest deferred replay may be tried again (nil: none is deferred).
    func earliestRetry() async throws -> Int64? {
        try await database.read { db in
            try Int64.fetchOne(
                db, sql: "SELECT MIN(retry_at) FROM receipt WHERE state = ? AND wanted = 1",
                arguments: [ReceiptState.pending])
        }
    }

    /// Selects a pending receipt for replay (an audit asked for it).
    func markWanted(_ id: String) async throws {
        try await database.write { db in
            try db.execute(
                sql: "UPDATE receipt SET wanted = 1 WHERE id = ? AND state = ?",
                arguments: [id, ReceiptState.pending])
        }
    }

    /// A replay of `id` ended without a verdict: the checker waits 2, 4, 8 … seconds (at
    /// most ten minutes) before trying it again, and takes others meanwhile.
    func deferReplay(_ id: String, at now: Int64) async throws {
        try await database.write { db in
            try db.execute(
                sql: """
                    UPDATE receipt SET replay_attempts = replay_attempts + 1,
                    retry_at = ? + 1000 * MIN(600, 1 << MIN(replay_attempts + 1, 10))
                    WHERE id = ?
                    """, arguments: [now, id])
        }
    }

    /// Remembers that `id` is a canary the verifier sent; if its receipt is stored already it
    /// is marked and, while pending, selected. True when it was stored.
    func markCanary(_ id: String, at now: Int64) async throws -> Bool {
        try await database.write { db in
            try db.execute(
                sql: "INSERT OR IGNORE INTO canary (receipt_id, sent_at) VALUES (?, ?)",
                arguments: [id, now])
            try db.execute(
                sql: "UPDATE receipt SET canary = 1, wanted = (state = ?) OR wanted WHERE id = ?",
                arguments: [ReceiptState.pending, id])
            return db.changesCount > 0
        }
    }

    /// Pending receipts, selected for replay or not.
    func pendingCounts() async throws -> (selected: Int, unselected: Int) {
        try await database.read { db in
            let rows = try Row.fetchAll(
                db,
                sql: "SELECT wanted, COUNT(*) AS n FROM receipt WHERE state = ? GROUP BY wanted",
                arguments: [ReceiptState.pending])
            var counts = (selected: 0, unselected: 0)
            for row in rows {
                if row["wanted"] as Bool {
                    counts.selected = row["n"]
                } else {
                    counts.unselected = row["n"]
                }
            }
            return counts
        }
    }
}
