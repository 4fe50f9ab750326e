import Placement
import ServiceKit
import TesseraProto

/// What the scheduler needs to know about the model it serves: identity, and the costs the
/// optimizer plans with (as the cache-manager's GGUF analysis computed them).
struct ServedModel: Sendable {
    let reference: ModelReference
    let profile: ModelProfile
    /// The model's own context length (0: not known; the plan's setting then applies).
    var contextLength = 0
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
        return ServedModel(manifest)
    }

    /// The catalog's models marked servable, with their marks, and the default model's marks
    /// (nil when it has none). Manifests without per-layer costs cannot be planned: skipped.
    /// Also each model's quality budget with its variants' profiles (`ServedQuality`), by
    /// model SHA-256.
    func servable(defaultSHA256: String) async throws -> (
        servable: [(model: ServedModel, marks: ServingMarks)], defaultMarks: ServingMarks?,
        qualities: [String: ServedQuality]
    ) {
        let manifests = try await cacheManager.listModels(.init(), options: .timeout(.seconds(10)))
            .models
        var qualities: [String: ServedQuality] = [:]
        for manifest in manifests {
            qualities[manifest.model.sha256] = ServedQuality(manifest, catalog: manifests)
        }
        var servable: [(model: ServedModel, marks: ServingMarks)] = []
        var defaultMarks: ServingMarks?
        for manifest in manifests where manifest.hasServing && manifest.serving.servable {
            let marks = ServingMarks(manifest.serving)
            if manifest.model.sha256 == defaultSHA256 {
                defaultMarks = marks
                continue
            }
            guard manifest.layerCount > 0, manifest.layers.count == Int(manifest.layerCount) else {
                continue
            }
            servable.append((ServedModel(manifest), marks))
        }
        return (servable, defaultMarks, qualities)
    }

    /// The shard of `layers`, cut from `variant` (a catalog SHA-256) when the stage runs one.
    func shard(model: ServedModel, layers: Range<Int>, variant: String? = nil) async throws
        -> ShardReference
    {
        let manifest = try await cacheManager.getShard(
            .with {
                $0.model = variant ?? model.reference.sha256
                $0.layers = Tessera_V1_LayerRange(layers)
            }, options: .timeout(.seconds(120)))
        return manifest.shard.domain
    }
}

extension ServedModel {
    init(_ manifest: Tessera_V1_ModelManifest) {
        self.init(
            reference: manifest.model.domain, profile: manifest.cost,
            contextLength: Int(manifest.contextLength))
    }
}

extension ServingMarks {
    init(_ marks: Tessera_V1_ServingMarks) {
        self.init(
            pinReplicas: Int(marks.pinReplicas),
            idleTimeout: marks.idleTimeoutS == 0 ? nil : .seconds(Int(marks.idleTimeoutS)))
    }
}
