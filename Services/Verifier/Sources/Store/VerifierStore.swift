import Foundation
import GRDB

/// The verifier's durable state: `<state-dir>/verifier.sqlite`, schema managed by
/// migrations so a store written by an older version opens in a newer one. Pinned keys,
/// receipts with their verdicts, reputations and the ledger live here; every change that
/// touches more than one of them is one transaction, so a crash never keeps half a verdict.
final class VerifierStore: Sendable {
    static let fileName = "verifier.sqlite"
    let database: DatabaseQueue

    /// Opens (or creates) the store in `directory`.
    convenience init(directory: String) throws {
        try FileManager.default.createDirectory(
            atPath: directory, withIntermediateDirectories: true)
        try self.init(
            path: URL(fileURLWithPath: directory).appendingPathComponent(Self.fileName).path)
    }

    init(path: String) throws {
        var configuration = Configuration()
        configuration.foreignKeysEnabled = true
        configuration.busyMode = .timeout(5)  // a second process on the same store waits, not fails
        database = try DatabaseQueue(path: path, configuration: configuration)
        try Self.migrator.migrate(database)
    }

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1: keys, receipts, reputations and the ledger") { db in
            try db.create(table: "worker") { table in
                table.primaryKey("id", .text)
                table.column("public_key", .blob).notNull()
                table.column("removed", .boolean).notNull().defaults(to: false)
                table.column("deposit", .integer).notNull().defaults(to: 0)
                table.column("balance", .integer).notNull().defaults(to: 0)
                table.column("checks_passed", .integer).notNull().defaults(to: 0)
                table.column("checks_failed", .integer).notNull().defaults(to: 0)
                table.column("slashed", .boolean).notNull().defaults(to: false)
                table.column("registered_at", .integer).notNull()
            }
            try db.create(table: "gateway") { table in
                table.primaryKey("id", .text)
                table.column("public_key", .blob).notNull()
                table.column("registered_at", .integer).notNull()
            }
            try db.create(table: "receipt") { table in
                table.primaryKey("id", .text)
                table.column("record", .blob).notNull()
                table.column("receipt", .blob).notNull()
                table.column("gateway_id", .text).notNull()
                table.column("state", .text).notNull()
                table.column("fault_worker_id", .text)
                table.column("fault_first_layer", .integer)
                table.column("fault_last_layer", .integer)
                table.column("fault_proven", .boolean).notNull().defaults(to: false)
                table.column("reason", .text).notNull().defaults(to: "")
                table.column("stage_checks", .text).notNull().defaults(to: "[]")
                table.column("checked_at", .integer)
                table.column("canary", .boolean).notNull().defaults(to: false)
                table.column("wanted", .boolean).notNull().defaults(to: false)
                table.column("submitted_at", .integer).notNull()
                table.column("serving_seconds", .double).notNull().defaults(to: 0)
                table.column("replay_seconds", .double).notNull().defaults(to: 0)
                table.column("replay_attempts", .integer).notNull().defaults(to: 0)
                table.column("retry_at", .integer).notNull().defaults(to: 0)
            }
            // The checker's queue: pending receipts selected for replay.
            try db.create(
                index: "receipt_replay_queue", on: "receipt", columns: ["canary", "retry_at"],
                condition: Column("state") == ReceiptState.pending.rawValue
                    && Column("wanted") == true)
            try db.create(index: "receipt_state", on: "receipt", columns: ["state", "wanted"])
            // Every stored commitment's signature, to recognise one passed off again.
            try db.create(table: "commitment_signature") { table in
                table.primaryKey("signature", .blob)
                table.column("receipt_id", .text).notNull()
                    .references("receipt", column: "id", onDelete: .cascade)
            }
            try db.create(table: "ledger") { table in
                table.autoIncrementedPrimaryKey("id")
                table.column("worker_id", .text).notNull().indexed()
                    .references("worker", column: "id")
                table.column("delta", .integer).notNull()
                table.column("reason", .text).notNull()
                table.column("receipt_id", .text)
                table.column("at", .integer).notNull()
            }
            // Receipt ids of the canaries the verifier sent (the receipt may arrive later).
            try db.create(table: "canary") { table in
                table.primaryKey("receipt_id", .text)
                table.column("sent_at", .integer).notNull()
            }
        }
        return migrator
    }

    /// Now, as stored: unix milliseconds.
    static func now() -> Int64 { Int64((Date().timeIntervalSince1970 * 1000).rounded()) }
}

extension ReceiptState: DatabaseValueConvertible {}
extension LedgerRow.Reason: DatabaseValueConvertible {}
