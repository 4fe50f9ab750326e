import GRDB
import ModelCompression
import ModelStore
import TesseraProto

/// What the catalog keeps about how a variant was made, beside its parent and method
/// (`model.parameters`, JSON).
struct VariantParameters: Codable, Sendable, Equatable {
    /// Tensors stored in a fallback type because their rows are not whole blocks.
    var fallbacks: [VariantFallback]
    /// The parent's name when the variant was made.
    var parentName: String
    /// SHA-256 of the calibration text (pruning methods only).
    var calibrationSHA256: String?
    /// Seconds the cache-manager took to make it.
    var seconds: Double
}

extension ModelRow {
    /// Migration "v2: variants": a variant is a model row with its parent, method and
    /// parameters; an imported model leaves them NULL.
    static func addVariantColumns(_ db: Database) throws {
        try db.alter(table: databaseTableName) { table in
            table.add(column: "parent_sha256", .text)
            table.add(column: "method", .text)
            table.add(column: "parameters", .text)
        }
    }

    var isVariant: Bool { parentSha256 != nil }

    /// The manifest's `variant` field, for a variant.
    var variantOrigin: Tessera_V1_VariantOrigin? {
        guard let parentSha256, let method else { return nil }
        return .with {
            $0.parentSha256 = parentSha256
            $0.parentName = parameters?.parentName ?? ""
            $0.method = method
            $0.fallbacks = (parameters?.fallbacks ?? []).map { fallback in
                .with {
                    $0.tensor = fallback.tensor
                    $0.wanted = fallback.wanted
                    $0.used = fallback.used
                }
            }
        }
    }
}
