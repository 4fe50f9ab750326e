import GRPCCore
import Placement
import ServiceKit
import TesseraProto

/// What the scheduler needs to know about the model it serves, from the cache-manager's
/// manifest: identity and the per-layer costs the optimizer plans with.
struct ServedModel: Sendable {
    let manifest: Tessera_V1_ModelManifest
    var reference: Tessera_V1_ModelRef { manifest.model }
    var layerCount: Int { Int(manifest.layerCount) }

    var profile: ModelProfile {
        let layers = manifest.layers.map {
            LayerCost(
                weightBytes: Int($0.weightBytes), flopsPerToken: Double($0.flopsPerToken),
                kvBytesPerToken: Int($0.kvBytesPerToken))
        }
        let vocabulary = max(1, Int(manifest.vocabSize))
        // The first stage reads one embedding row per token; the last reads its whole head.
        let embedding = StageExtra(
            weightBytes: Int(manifest.embedding.weightBytes),
            bytesReadPerToken: Int(manifest.embedding.weightBytes) / vocabulary,
            flopsPerToken: Double(manifest.embedding.flopsPerToken))
        let head = StageExtra(
            weightBytes: Int(manifest.output.weightBytes), bytesReadPerToken: Int(manifest.output.weightBytes),
            flopsPerToken: Double(manifest.output.flopsPerToken))
        return ModelProfile(
            layers: layers, embedding: embedding, outputHead: head, tiedEmbeddingBytes: 0,
            activationBytesPerToken: Int(manifest.activationBytesPerToken), ingressBytesPerToken: 4,
            egressBytesPerToken: 4)
    }

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
            throw RPCError(code: .failedPrecondition, message: "manifest of \(modelName) has no per-layer costs")
        }
        return ServedModel(manifest: manifest)
    }

    func shard(model: ServedModel, layers: Range<Int>) async throws -> Tessera_V1_ShardRef {
        let manifest = try await cacheManager.getShard(
            .with {
                $0.model = model.reference.sha256
                $0.layers = .with {
                    $0.first = UInt32(layers.lowerBound)
                    $0.last = UInt32(layers.upperBound)
                }
            }, options: .timeout(.seconds(120)))
        return manifest.shard
    }
}
