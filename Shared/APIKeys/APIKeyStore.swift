import Foundation
import GRDB

/// The API keys of one gateway (or of several sharing a volume): a small SQLite file that
/// `tessera keys` writes and the gateway reads, holding each key's SHA-256, never the key.
/// Both may have it open at once: a writer waits for the other (busy timeout) instead of
/// failing.
public final class APIKeyStore: Sendable {
    public static let fileName = "keys.sqlite"
    let database: DatabaseQueue

    /// Opens (or creates, with its directory) the store at `path`.
    public init(path: String) throws {
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
        try FileManager.default.createDirectory(
            atPath: directory, withIntermediateDirectories: true)
        var configuration = Configuration()
        configuration.busyMode = .timeout(5)
        database = try DatabaseQueue(path: path, configuration: configuration)
        try Self.migrator.migrate(database)
    }

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1: api keys with limits and usage") { db in
            try db.create(table: "api_key") { table in
                table.primaryKey("id", .text)
                table.column("name", .text).notNull()
                table.column("secret_sha256", .text).notNull().unique()
                table.column("prefix", .text).notNull()
                table.column("created_at", .double).notNull()
                table.column("revoked", .boolean).notNull().defaults(to: false)
                table.column("requests_per_minute", .integer).notNull()
                table.column("tokens_per_minute", .integer).notNull()
                table.column("concurrent_streams", .integer).notNull()
                table.column("requests", .integer).notNull().defaults(to: 0)
                table.column("prompt_tokens", .integer).notNull().defaults(to: 0)
                table.column("completion_tokens", .integer).notNull().defaults(to: 0)
            }
            // A name names one live key (so `revoke NAME` is unambiguous); a revoked key's
            // name may be used again.
            try db.create(
                index: "api_key_live_name", on: "api_key", columns: ["name"], unique: true,
                condition: Column("revoked") == false)
        }
        return migrator
    }

    /// Creates a key and returns it with its secret, which is shown once and never stored.
    /// `secret`: one the caller chose (a deployment's pre-shared key); else a new random one.
    public func create(name: String, limits: APIKeyLimits, secret given: String? = nil) throws
        -> (record: APIKeyRecord, secret: String)
    {
        let name = name.trimmingCharacters(in: .whitespaces)
        guard !name.isEmpty, name.count <= 64 else {
            throw APIKeyStoreError.invalid("a key's name must be 1 to 64 characters")
        }
        let secret = given ?? APIKeySecret.generate()
        guard APIKeySecret.isWellFormed(secret) else {
            throw APIKeyStoreError.invalid(
                "an API key must start with \(APIKeySecret.scheme) and have at least 16 more printable characters"
            )
        }
        // Whole milliseconds, stored as is: the record read back equals the one returned.
        let createdAt = (Date().timeIntervalSince1970 * 1000).rounded() / 1000
        let record = APIKeyRecord(
            id: "key-" + String(UInt64.random(in: 0...UInt64.max), radix: 16), name: name,
            prefix: APIKeySecret.displayPrefix(secret),
            created: Date(timeIntervalSince1970: createdAt), limits: limits)
        try database.write { db in
            if try Row.fetchOne(
                db, sql: "SELECT 1 FROM api_key WHERE name = ? AND revoked = 0", arguments: [name])
                != nil
            {
                throw APIKeyStoreError.nameTaken(name)
            }
            if try Row.fetchOne(
                db, sql: "SELECT 1 FROM api_key WHERE secret_sha256 = ?",
                arguments: [APIKeySecret.hash(secret)]) != nil
            {
                throw APIKeyStoreError.invalid("that key is already in the store")
            }
            try db.execute(
                sql: """
                    INSERT INTO api_key (id, name, secret_sha256, prefix, created_at,
                        requests_per_minute, tokens_per_minute, concurrent_streams)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    record.id, name, APIKeySecret.hash(secret), record.prefix, createdAt,
                    limits.requestsPerMinute,
                    limits.tokensPerMinute, limits.concurrentStreams,
                ])
        }
        return (record, secret)
    }

    /// The key whose secret is `secret` (revoked or not), or nil.
    public func record(forSecret secret: String) throws -> APIKeyRecord? {
        try database.read { db in
            try Row.fetchOne(
                db, sql: "SELECT * FROM api_key WHERE secret_sha256 = ?",
                arguments: [APIKeySecret.hash(secret)]
            ).map(Self.record)
        }
    }

    /// Every key, oldest first.
    public func list() throws -> [APIKeyRecord] {
        try database.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM api_key ORDER BY created_at, id").map(
                Self.record)
        }
    }

    /// Revokes the live key named `nameOrID`, or the key with that id; returns it.
    @discardableResult
    public func revoke(_ nameOrID: String) throws -> APIKeyRecord {
        try database.write { db in
            guard
                let row = try Row.fetchOne(
                    db,
                    sql: "SELECT * FROM api_key WHERE id = ? OR (name = ? AND revoked = 0)",
                    arguments: [nameOrID, nameOrID])
            else { throw APIKeyStoreError.notFound(nameOrID) }
            var record = Self.record(row)
            try db.execute(
                sql: "UPDATE api_key SET revoked = 1 WHERE id = ?", arguments: [record.id])
            record.revoked = true
            return record
        }
    }

    /// Adds one finished request's usage to a key's counters.
    public func addUsage(keyID: String, _ usage: APIKeyUsage) throws {
        try database.write { db in
            try db.execute(
                sql: """
                    UPDATE api_key SET requests = requests + ?, prompt_tokens = prompt_tokens + ?,
                        completion_tokens = completion_tokens + ? WHERE id = ?
                    """,
                arguments: [usage.requests, usage.promptTokens, usage.completionTokens, keyID])
        }
    }

    private static func record(_ row: Row) -> APIKeyRecord {
        APIKeyRecord(
            id: row["id"], name: row["name"], prefix: row["prefix"],
            created: Date(timeIntervalSince1970: row["created_at"]), revoked: row["revoked"],
            limits: APIKeyLimits(
                requestsPerMinute: row["requests_per_minute"],
                tokensPerMinute: row["tokens_per_minute"],
                concurrentStreams: row["concurrent_streams"]),
            usage: APIKeyUsage(
                requests: row["requests"], promptTokens: row["prompt_tokens"],
                completionTokens: row["completion_tokens"]))
    }
}

public enum APIKeyStoreError: Error, CustomStringConvertible, Equatable {
    case nameTaken(String)
    case notFound(String)
    case invalid(String)

    public var description: String {
        switch self {
        case .nameTaken(let name):
            "a live key is already named '\(name)' (revoke it first, or pick another name)"
        case .notFound(let name): "no live key is named '\(name)' and no key has that id"
        case .invalid(let message): message
        }
    }
}
