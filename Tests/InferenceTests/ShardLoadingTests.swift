import GGUF
import Inference
import Testing

/// A stage needs only its own tensors, so it loads from a shard GGUF holding just those.
@Suite struct ShardLoadingTests {
    /// A shard of `file` with the original metadata and tensor names, only the tensors of
    /// `layers` (+ embedding / output tensors for the first / last stage), minus `dropping`.
    static func shard(
        of file: GGUFFile, layers: Range<Int>, dropping: String? = nil,
        retype: (String, GGMLType)? = nil
    ) throws -> GGUFFile {
        var writer = GGUFWriter(alignment: file.alignment)
        for key in file.metadataKeys {
            if let value = file.metadata[key] { writer.set(key, value) }
        }
        writer.set("tessera.shard.first_layer", .uint32(UInt32(layers.lowerBound)))
        writer.set("tessera.shard.last_layer", .uint32(UInt32(layers.upperBound)))
        for tensor in file.tensors {
            let name = tensor.name
            var keep = false
            if name.hasPrefix("blk."), let index = Int(name.split(separator: ".")[1]) {
                keep = layers.contains(index)
            }
            if name == "token_embd.weight" {
                keep = layers.lowerBound == 0 || layers.upperBound == 30
            }
            if name == "output_norm.weight" || name == "output.weight" {
                keep = layers.upperBound == 30
            }
            guard keep, name != dropping else { continue }
            if let (retypedName, type) = retype, retypedName == name {
                let bytes = [UInt8](
                    repeating: 0, count: try type.byteCount(elements: tensor.elementCount))
                try writer.addTensor(
                    name: name, dimensions: tensor.dimensions, type: type, bytes: bytes)
            } else {
                try writer.addTensor(
                    name: name, dimensions: tensor.dimensions, type: tensor.type,
                    bytes: Array(file.bytes(of: tensor)))
            }
        }
        return try GGUFFile(bytes: try writer.encoded())
    }

    @Test func lastStageFromAShardMatchesTheFullFile() throws {
        let file = try TestModel.file()
        let shard = try Self.shard(of: file, layers: 20..<30)
        #expect(shard.tensor(named: "blk.19.attn_q.weight") == nil)
        let fromShard = try StageSplitTests.run([
            try TransformerStage(file: file, layers: 0..<20, threads: 2),
            try TransformerStage(file: shard, layers: 20..<30, threads: 2),
        ])
        let fromFile = try StageSplitTests.run([
            try TransformerStage(file: file, layers: 0..<30, threads: 2)
        ])
        for (a, b) in zip(fromShard, fromFile) {
            #expect(a.map(\.bitPattern) == b.map(\.bitPattern))
        }
    }

    @Test func middleShardLoadsWithoutEmbeddingOrOutput() throws {
        let shard = try Self.shard(of: try TestModel.file(), layers: 10..<12)
        #expect(shard.tensor(named: "token_embd.weight") == nil)
        let stage = try TransformerStage(file: shard, layers: 10..<12, threads: 1)
        #expect(!stage.isFirst && !stage.isLast)
    }

    @Test func missingTensorIsNamed() throws {
        let shard = try Self.shard(
            of: try TestModel.file(), layers: 10..<12, dropping: "blk.11.ffn_up.weight")
        #expect(throws: InferenceError.missingTensor(name: "blk.11.ffn_up.weight")) {
            try TransformerStage(file: shard, layers: 10..<12, threads: 1)
        }
        #expect(throws: InferenceError.missingTensor(name: "blk.9.attn_norm.weight")) {
            try TransformerStage(file: shard, layers: 9..<12, threads: 1)
        }
    }

    @Test func unsupportedTensorTypeIsNamed() throws {
        let shard = try Self.shard(
            of: try TestModel.file(), layers: 10..<12, retype: ("blk.10.attn_k.weight", .iq4_nl))
        #expect(
            throws: InferenceError.unsupportedTensorType(
                tensor: "blk.10.attn_k.weight", type: "IQ4_NL")
        ) {
            try TransformerStage(file: shard, layers: 10..<12, threads: 1)
        }
    }
}
