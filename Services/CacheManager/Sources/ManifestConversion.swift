import ModelStore
import TesseraProto

/// Catalog rows as protocol messages.
extension ModelRow {
    var reference: Tessera_V1_ModelRef {
        .with {
            $0.name = name
            $0.sha256 = sha256
        }
    }

    func manifest(shards: [ShardRow]) -> Tessera_V1_ModelManifest {
        .with {
            $0.model = reference
            $0.architecture = profile.architecture
            $0.layerCount = UInt32(clamping: profile.layerCount)
            $0.embeddingLength = UInt32(clamping: profile.embeddingLength)
            $0.contextLength = UInt32(clamping: profile.contextLength)
            $0.vocabSize = UInt32(clamping: profile.vocabularySize)
            $0.fileSize = UInt64(fileSize)
            $0.fileType = profile.fileType
            $0.layers = profile.layers.map(\.message)
            $0.embedding = profile.embedding.message
            $0.output = profile.output.message
            $0.activationBytesPerToken = UInt32(clamping: profile.activationBytesPerToken)
            $0.shards = shards.map { $0.reference(model: reference) }
        }
    }
}

extension ModelCostProfile.Cost {
    var message: Tessera_V1_LayerCost {
        .with {
            $0.weightBytes = UInt64(weightBytes)
            $0.flopsPerToken = UInt64(flopsPerToken)
            $0.kvBytesPerToken = UInt64(kvBytesPerToken)
        }
    }
}

extension ShardRow {
    func reference(model: Tessera_V1_ModelRef) -> Tessera_V1_ShardRef {
        .with {
            $0.sha256 = sha256
            $0.model = model
            $0.layers = .with {
                $0.first = UInt32(firstLayer)
                $0.last = UInt32(lastLayer)
            }
            $0.sizeBytes = UInt64(sizeBytes)
            $0.hasEmbedding_p = hasEmbedding
            $0.hasOutput_p = hasOutput
        }
    }
}
