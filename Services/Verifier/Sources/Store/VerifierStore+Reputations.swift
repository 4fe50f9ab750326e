import GRDB

extension VerifierStore {
    func standing(_ workerID: String) async throws -> WorkerStanding? {
        try await database.read { db in try WorkerRow.fetchOne(db, key: workerID)?.standing }
    }

    /// Every worker ever registered (removed ones too: their history stays), by id.
    func standings() async throws -> [WorkerStanding] {
        try await database.read { db in
            try WorkerRow.order(Column("id")).fetchAll(db).map(\.standing)
        }
    }

    /// A worker's ledger, oldest first.
    func ledger(of workerID: String) async throws -> [LedgerRow] {
        try await database.read { db in
            try LedgerRow.filter(Column("worker_id") == workerID).order(Column("id")).fetchAll(db)
        }
    }

    /// Seconds spent replaying over the serving seconds of every stored receipt (0 before
    /// any): the share of compute that checking costs.
    func checkComputeShare() async throws -> Double {
        try await database.read { db in
            let row = try Row.fetchOne(
                db,
                sql: """
                    SELECT COALESCE(SUM(replay_seconds), 0) AS replay,
                    COALESCE(SUM(serving_seconds), 0) AS serving FROM receipt
                    """)
            let replay: Double = row?["replay"] ?? 0
            let serving: Double = row?["serving"] ?? 0
            return serving > 0 ? replay / serving : 0
        }
    }
}
