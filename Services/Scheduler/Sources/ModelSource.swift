import Placement
import ServiceKit
import TesseraProto

/// What the scheduler needs to know about the model it serves: identity, and the costs the
/// optimizer plans with (as the cache-manager's GGUF analysis computed them).
struct ServedModel: Sendable {
    let reference: ModelReference
    let profile: ModelProfile
    var layerCount: Int { profile.layerCount }

    /// Matches a request's model field: empty (the default), the name, or the SHA-256.
    func matches(_ requested: String) -> Bool {
        requested.isEmpty || requested == reference.name || requested == reference.sha256
    }
}

/// Asks the cache-manager for the manifest of the model this scheduler serves, and for the
/// shard of each planned stage.
struct ModelSource: Sendable {
    let cacheManager: Tessera_V1_CacheManager.Client<TesseraClientTransport>
    let cacheManagerAddress: ListenAddress
    let modelName: String

    func load() async throws -> ServedModel {
        let manifest = try await cacheManager.getModel(
            .with { $0.model = modelName }, options: .timeout(.seconds(30)))
        guard manifest.layerCount > 0, manifest.layers.count == Int(manifest.layerCount) else {
            throw SchedulerError.manifestWithoutCosts(model: modelName)
        }
        return ServedModel(reference: manifest.model.domain, profile: manifest.cost)
    }

    func shard(model: ServedModel, layers: Range<Int>) async throws -> ShardReference {
        let manifest = try await cacheManager.getShard(
            .with {
                $0.model = model.reference.sha256
                $0.layers = Tessera_V1_LayerRange(layers)
            }, options: .timeout(.seconds(120)))
        return manifest.shard.domain
    }
}
