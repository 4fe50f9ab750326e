import Placement
import TesseraProto

/// A served model's quality budget as the plan loop uses it: the optimizer's budget (each
/// allowed variant's profile and measured sensitivity) and where each variant's shards come
/// from (its SHA-256 in the catalog).
struct ServedQuality: Sendable, Equatable {
    var budget: QualityBudget
    /// Variant name → the catalog model its shards are cut from.
    var variantSHA256: [String: String]

    /// The budget of `manifest`, paired with its variants' manifests from `catalog`. A
    /// variant is left out when the catalog no longer holds the very file that was measured
    /// or it is not a variant of this model; nil without a budget (or with a malformed one,
    /// which the cache-manager never records).
    init?(_ manifest: Tessera_V1_ModelManifest, catalog: [Tessera_V1_ModelManifest]) {
        guard manifest.hasQualityBudget,
            let setting = try? manifest.qualityBudget.domain()
        else { return nil }
        let byName = Dictionary(
            catalog.map { ($0.model.name, $0) }, uniquingKeysWith: { first, _ in first })
        var profiles: [String: ModelProfile] = [:]
        var shas: [String: String] = [:]
        for entry in setting.variants {
            guard let variant = byName[entry.variant], variant.model.sha256 == entry.variantSHA256,
                variant.variant.parentSha256 == manifest.model.sha256,
                variant.layers.count == Int(variant.layerCount), variant.layerCount > 0
            else { continue }
            profiles[entry.variant] = variant.cost
            shas[entry.variant] = variant.model.sha256
        }
        budget = setting.budget(profiles: profiles)
        variantSHA256 = shas
    }
}
