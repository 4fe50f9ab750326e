import GRDB
import TesseraProto

/// Whether and how the scheduler serves a model beside its default one: the operator's
/// marks, set through the scheduler's `ServeModel` (which checks first that the model fits on
/// its workers) and kept in the catalog's `serving` table (migration "v3: serving"). A model
/// without a row is not marked servable.
struct ServingMarksRow: Codable, Sendable, Equatable, FetchableRecord, PersistableRecord {
    static let databaseTableName = "serving"
    static var databaseColumnDecodingStrategy: DatabaseColumnDecodingStrategy {
        .convertFromSnakeCase
    }
    static var databaseColumnEncodingStrategy: DatabaseColumnEncodingStrategy {
        .convertToSnakeCase
    }

    var modelSha256: String
    var servable: Bool
    /// 0: not pinned; N: the scheduler keeps at least N pipelines warm.
    var pinReplicas: Int
    /// 0: the scheduler's default idle timeout.
    var idleTimeoutS: Int

    /// The table, created by the catalog's migration "v3: serving"; a row goes with its model.
    static func createTable(_ db: Database) throws {
        try db.create(table: databaseTableName) { table in
            table.primaryKey("model_sha256", .text)
                .references("model", column: "sha256", onDelete: .cascade)
            table.column("servable", .boolean).notNull()
            table.column("pin_replicas", .integer).notNull()
            table.column("idle_timeout_s", .integer).notNull()
        }
    }

    var message: Tessera_V1_ServingMarks {
        .with {
            $0.servable = servable
            $0.pinReplicas = UInt32(clamping: pinReplicas)
            $0.idleTimeoutS = UInt32(clamping: idleTimeoutS)
        }
    }
}

extension Catalog {
    /// Every model's marks, by model SHA-256.
    func servingMarks() async throws -> [String: ServingMarksRow] {
        try await database.read { db in
            let rows = try ServingMarksRow.fetchAll(db)
            return Dictionary(rows.map { ($0.modelSha256, $0) }, uniquingKeysWith: { a, _ in a })
        }
    }

    func servingMarks(ofModel sha256: String) async throws -> ServingMarksRow? {
        try await database.read { db in try ServingMarksRow.fetchOne(db, key: sha256) }
    }

    func setServingMarks(_ row: ServingMarksRow) async throws {
        try await database.write { db in try row.save(db) }
    }
}
