import Foundation
import GGUF
import GRDB
import ModelStore

/// One imported model: where its file is, what it was when imported (to notice a file that
/// changed under us) and its manifest numbers, so listing never has to open a model file.
struct ModelRow: Codable, Sendable, Equatable, FetchableRecord, PersistableRecord {
    static let databaseTableName = "model"
    static var databaseColumnDecodingStrategy: DatabaseColumnDecodingStrategy {
        .convertFromSnakeCase
    }
    static var databaseColumnEncodingStrategy: DatabaseColumnEncodingStrategy {
        .convertToSnakeCase
    }

    var sha256: String
    var name: String
    var path: String
    var fileSize: Int
    /// Modification time (seconds since 1970) at import.
    var fileModified: Double
    /// The GGUF analysis (facts and the optimizer's cost), stored as JSON.
    var profile: ModelAnalysis
    var importedAt: Date
    /// For a variant (`ModelLibrary+Variants.swift`): the model it was made from, how, and
    /// the details (`VariantParameters`); nil for an imported model.
    var parentSha256: String? = nil
    var method: String? = nil
    var parameters: VariantParameters? = nil
}

/// One shard cut from a model; its file is `<store>/shards/<sha256>.gguf`.
struct ShardRow: Codable, Sendable, Equatable, FetchableRecord, PersistableRecord {
    static let databaseTableName = "shard"
    static var databaseColumnDecodingStrategy: DatabaseColumnDecodingStrategy {
        .convertFromSnakeCase
    }
    static var databaseColumnEncodingStrategy: DatabaseColumnEncodingStrategy {
        .convertToSnakeCase
    }

    var sha256: String
    var modelSha256: String
    var firstLayer: Int
    var lastLayer: Int
    var sizeBytes: Int
    var hasEmbedding: Bool
    var hasOutput: Bool
    var cutAt: Date

    var layers: Range<Int> { firstLayer..<lastLayer }
}

/// The persistent catalog of models and shards: `<store>/catalog.sqlite`, schema managed by
/// migrations so a store written by an older version opens in a newer one.
final class Catalog: Sendable {
    let database: DatabaseQueue

    init(path: String) throws {
        var configuration = Configuration()
        configuration.foreignKeysEnabled = true
        configuration.busyMode = .timeout(5)  // a second process on the same store waits, not fails
        database = try DatabaseQueue(path: path, configuration: configuration)
        try Self.migrator.migrate(database)
    }

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1: models and shards") { db in
            try db.create(table: "model") { table in
                table.primaryKey("sha256", .text)
                table.column("name", .text).notNull().unique()
                table.column("path", .text).notNull()
                table.column("file_size", .integer).notNull()
                table.column("file_modified", .double).notNull()
                table.column("profile", .text).notNull()
                table.column("imported_at", .datetime).notNull()
            }
            try db.create(table: "shard") { table in
                table.primaryKey("sha256", .text)
                table.column("model_sha256", .text).notNull().indexed()
                    .references("model", column: "sha256", onDelete: .cascade)
                table.column("first_layer", .integer).notNull()
                table.column("last_layer", .integer).notNull()
                table.column("size_bytes", .integer).notNull()
                table.column("has_embedding", .boolean).notNull()
                table.column("has_output", .boolean).notNull()
                table.column("cut_at", .datetime).notNull()
                table.uniqueKey(["model_sha256", "first_layer", "last_layer"])
            }
        }
        migrator.registerMigration("v2: profiles in the optimizer's terms") { db in
            try reprofileModels(db)
        }
        migrator.registerMigration("v2: variants") { db in
            try ModelRow.addVariantColumns(db)
        }
        migrator.registerMigration("v3: serving") { db in
            try ServingMarksRow.createTable(db)
        }
        migrator.registerMigration("v4: quality budgets") { db in
            try QualityBudgetRow.createTable(db)
        }
        return migrator
    }

    /// v1 stored a cost profile of its own shape; v2 stores `ModelAnalysis`, whose cost is
    /// the optimizer's `ModelProfile`. The header of each recorded file is read again (no
    /// tensor data, so this is quick); a file that cannot be is a clear error.
    private static func reprofileModels(_ db: Database) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        for row in try Row.fetchAll(db, sql: "SELECT sha256, name, path FROM model") {
            let (sha256, name, path): (String, String, String) = (
                row["sha256"], row["name"], row["path"]
            )
            let analysis: ModelAnalysis
            do {
                analysis = try ModelAnalysis(model: GGUFFile(path: path))
            } catch {
                throw CatalogError.cannotReprofile(model: name, path: path, reason: "\(error)")
            }
            let json = String(decoding: try encoder.encode(analysis), as: UTF8.self)
            try db.execute(
                sql: "UPDATE model SET profile = ? WHERE sha256 = ?", arguments: [json, sha256])
        }
    }

    enum CatalogError: Error, CustomStringConvertible {
        case cannotReprofile(model: String, path: String, reason: String)

        var description: String {
            switch self {
            case .cannotReprofile(let model, let path, let reason):
                "the catalog was written by an older version and model \(model) must be profiled again, but its file "
                    + "\(path) cannot be read (\(reason)); restore the file, or move the catalog away and import again"
            }
        }
    }

    // MARK: Models

    func models() async throws -> [ModelRow] {
        try await database.read { db in try ModelRow.order(Column("name")).fetchAll(db) }
    }

    func model(sha256: String) async throws -> ModelRow? {
        try await database.read { db in try ModelRow.fetchOne(db, key: sha256) }
    }

    func model(named name: String) async throws -> ModelRow? {
        try await database.read { db in try ModelRow.filter(Column("name") == name).fetchOne(db) }
    }

    enum InsertOutcome: Sendable {
        case inserted(ModelRow)
        /// The same bytes were imported before; the stored row (its path refreshed when the
        /// recorded file is gone).
        case alreadyPresent(ModelRow)
        /// Another model already has this name.
        case nameTaken(by: ModelRow)
    }

    /// Records `row` unless a model with its hash exists; one transaction, so two imports of
    /// the same file at once record it once.
    func insertModel(_ row: ModelRow) async throws -> InsertOutcome {
        try await database.write { db in
            if var existing = try ModelRow.fetchOne(db, key: row.sha256) {
                if existing.path != row.path, !FileManager.default.fileExists(atPath: existing.path)
                {
                    existing.path = row.path
                    existing.fileSize = row.fileSize
                    existing.fileModified = row.fileModified
                    try existing.update(db)
                }
                return .alreadyPresent(existing)
            }
            if let holder = try ModelRow.filter(Column("name") == row.name).fetchOne(db) {
                return .nameTaken(by: holder)
            }
            try row.insert(db)
            return .inserted(row)
        }
    }

    /// Updates what the catalog knows of a model's file (after it was re-verified).
    func updateFile(ofModel sha256: String, size: Int, modified: Double) async throws {
        try await database.write { db in
            try db.execute(
                sql: "UPDATE model SET file_size = ?, file_modified = ? WHERE sha256 = ?",
                arguments: [size, modified, sha256])
        }
    }

    // MARK: Shards

    func shards(ofModel sha256: String) async throws -> [ShardRow] {
        try await database.read { db in
            try ShardRow.filter(Column("model_sha256") == sha256)
                .order(Column("first_layer"), Column("last_layer")).fetchAll(db)
        }
    }

    func shard(sha256: String) async throws -> ShardRow? {
        try await database.read { db in try ShardRow.fetchOne(db, key: sha256) }
    }

    func shard(model sha256: String, layers: Range<Int>) async throws -> ShardRow? {
        try await database.read { db in
            try ShardRow.filter(
                Column("model_sha256") == sha256 && Column("first_layer") == layers.lowerBound
                    && Column("last_layer") == layers.upperBound
            ).fetchOne(db)
        }
    }

    /// Records a freshly cut shard, replacing an older record of the same range.
    func recordShard(_ row: ShardRow) async throws {
        try await database.write { db in
            try db.execute(
                sql:
                    "DELETE FROM shard WHERE model_sha256 = ? AND first_layer = ? AND last_layer = ?",
                arguments: [row.modelSha256, row.firstLayer, row.lastLayer])
            try row.save(db)
        }
    }
}
