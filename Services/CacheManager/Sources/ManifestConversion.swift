import ModelStore
import ServiceKit
import TesseraProto

/// Catalog rows as protocol messages: the model's facts here, its cost through the shared
/// conversion (`Tessera_V1_ModelManifest.setCost`).
extension ModelRow {
    var reference: ModelReference { ModelReference(name: name, sha256: sha256) }

    func manifest(shards: [ShardRow]) -> Tessera_V1_ModelManifest {
        var manifest = Tessera_V1_ModelManifest()
        manifest.model = Tessera_V1_ModelRef(reference)
        manifest.architecture = profile.architecture
        manifest.embeddingLength = UInt32(clamping: profile.embeddingLength)
        manifest.contextLength = UInt32(clamping: profile.contextLength)
        manifest.vocabSize = UInt32(clamping: profile.vocabularySize)
        manifest.fileSize = UInt64(fileSize)
        manifest.fileType = profile.fileType
        manifest.setCost(profile.cost)
        manifest.shards = shards.map { Tessera_V1_ShardRef($0.reference(model: reference)) }
        if let origin = variantOrigin { manifest.variant = origin }
        return manifest
    }
}

extension ShardRow {
    func reference(model: ModelReference) -> ShardReference {
        ShardReference(
            sha256: sha256, model: model, layers: layers, sizeBytes: UInt64(sizeBytes),
            hasEmbedding: hasEmbedding,
            hasOutput: hasOutput)
    }
}
