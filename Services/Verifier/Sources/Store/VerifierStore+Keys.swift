import Foundation
import GRDB

// Pinned keys: an id keeps the first key it registered until an operator removes it.

/// What registering a key did.
enum KeyRegistration: Sendable, Equatable {
    /// Pinned now (`newly`), or the same key was pinned already.
    case pinned(newly: Bool)
    /// Another key is pinned for this id.
    case conflict
}

extension VerifierStore {
    /// Pins `key` for worker `id`. A new pin (a new worker, or one an operator removed)
    /// records `deposit` with its ledger entry; the same key again changes nothing, so a
    /// worker may register on every start.
    func registerWorker(id: String, key: [UInt8], deposit: UInt64, at now: Int64) async throws
        -> KeyRegistration
    {
        let deposit = Int64(clamping: deposit)
        return try await database.write { db in
            var row: WorkerRow
            if let existing = try WorkerRow.fetchOne(db, key: id) {
                if !existing.removed {
                    return existing.publicKey == Data(key) ? .pinned(newly: false) : .conflict
                }
                row = existing
                row.publicKey = Data(key)
                row.removed = false
                row.deposit += deposit
                row.balance += deposit
                try row.update(db)
            } else {
                row = WorkerRow(
                    id: id, publicKey: Data(key), removed: false, deposit: deposit,
                    balance: deposit, checksPassed: 0, checksFailed: 0, slashed: false,
                    registeredAt: now)
                try row.insert(db)
            }
            var entry = LedgerRow(
                id: nil, workerId: id, delta: deposit, reason: .deposit, receiptId: nil, at: now)
            try entry.insert(db)
            return .pinned(newly: true)
        }
    }

    /// Unpins worker `id`'s key; false when no such worker was ever registered. Its counts and
    /// ledger stay; removing it twice is harmless.
    func removeWorker(id: String) async throws -> Bool {
        try await database.write { db in
            guard var row = try WorkerRow.fetchOne(db, key: id) else { return false }
            if !row.removed {
                row.removed = true
                try row.update(db)
            }
            return true
        }
    }

    func registerGateway(id: String, key: [UInt8], at now: Int64) async throws -> KeyRegistration {
        try await database.write { db in
            if let existing = try GatewayRow.fetchOne(db, key: id) {
                return existing.publicKey == Data(key) ? .pinned(newly: false) : .conflict
            }
            try GatewayRow(id: id, publicKey: Data(key), registeredAt: now).insert(db)
            return .pinned(newly: true)
        }
    }

    /// The pinned keys of those of `workers` that have one.
    static func pinnedKeys(_ db: Database, workers: Set<String>) throws -> [String: [UInt8]] {
        let rows = try WorkerRow.filter(keys: Array(workers)).filter(Column("removed") == false)
            .fetchAll(db)
        return Dictionary(uniqueKeysWithValues: rows.map { ($0.id, Array($0.publicKey)) })
    }

    static func gatewayKey(_ db: Database, id: String) throws -> [UInt8]? {
        try GatewayRow.fetchOne(db, key: id).map { Array($0.publicKey) }
    }
}
