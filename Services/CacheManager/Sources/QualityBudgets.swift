import Foundation
import GRDB
import Placement

/// A model's quality budget (`tessera model budget`): the KL limit its pipelines may be
/// predicted to reach when stages run variants, and each allowed variant's measured
/// per-range sensitivity (JSON). Kept in the catalog's `quality_budget` table (migration
/// "v4: quality budgets"); a model without a row is served only at its own precision.
struct QualityBudgetRow: Codable, Sendable, Equatable, FetchableRecord, PersistableRecord {
    static let databaseTableName = "quality_budget"
    static var databaseColumnDecodingStrategy: DatabaseColumnDecodingStrategy {
        .convertFromSnakeCase
    }
    static var databaseColumnEncodingStrategy: DatabaseColumnEncodingStrategy {
        .convertToSnakeCase
    }

    var modelSha256: String
    var maxMeanKl: Double
    var variants: [VariantSensitivity]
    var setAt: Date

    /// The table; a row goes with its model (and is removed with it).
    static func createTable(_ db: Database) throws {
        try db.create(table: databaseTableName) { table in
            table.primaryKey("model_sha256", .text)
                .references("model", column: "sha256", onDelete: .cascade)
            table.column("max_mean_kl", .double).notNull()
            table.column("variants", .text).notNull()
            table.column("set_at", .datetime).notNull()
        }
    }

    var setting: QualityBudgetSetting {
        QualityBudgetSetting(maxMeanKL: maxMeanKl, variants: variants)
    }
}

extension Catalog {
    /// Every model's budget, by model SHA-256.
    func qualityBudgets() async throws -> [String: QualityBudgetRow] {
        try await database.read { db in
            let rows = try QualityBudgetRow.fetchAll(db)
            return Dictionary(rows.map { ($0.modelSha256, $0) }, uniquingKeysWith: { a, _ in a })
        }
    }

    func qualityBudget(ofModel sha256: String) async throws -> QualityBudgetRow? {
        try await database.read { db in try QualityBudgetRow.fetchOne(db, key: sha256) }
    }

    /// Sets the model's budget, or removes it (nil).
    func setQualityBudget(_ row: QualityBudgetRow?, ofModel sha256: String) async throws {
        try await database.write { db in
            if let row {
                try row.save(db)
            } else {
                _ = try QualityBudgetRow.deleteOne(db, key: sha256)
            }
        }
    }
}
