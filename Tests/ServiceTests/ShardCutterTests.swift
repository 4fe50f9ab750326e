import Foundation
import GGUF
import Inference
import Integrity
import ModelStore
import Testing
import Tokenization

/// Shards must preserve everything a stage needs: chaining shard-loaded stages gives the
/// whole model's logits bit for bit, and the same cut always gives the same bytes.
@Suite struct ShardCutterTests {
    typealias F = ShardCutterFixtures

    @Test func threeShardsChainToTheWholeModelsLogitsBitForBit() throws {
        let model = try F.model()
        let directory = try F.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }

        var stages: [TransformerStage] = []
        var shards: [GGUFFile] = []
        for range in [0..<10, 10..<20, 20..<30] {
            let path = "\(directory)/\(range.lowerBound)-\(range.upperBound).gguf"
            let started = ContinuousClock.now
            let info = try ShardCutter.cut(
                model: model, modelSHA256: F.modelSHA256, layers: range, to: path)
            print(
                "ShardCutter: [\(range.lowerBound), \(range.upperBound)) \(info.sizeBytes) bytes in \(started.duration(to: .now))"
            )
            #expect(info.sha256 == (try FileDigest.sha256Hex(ofFile: path)))
            #expect(info.layers == range)
            let shard = try GGUFFile(path: path)
            #expect(info.sizeBytes == shard.fileSize)
            shards.append(shard)
            stages.append(try TransformerStage(file: shard, layers: range, threads: 2))
        }
        let whole = try F.logits([try TransformerStage(file: model, layers: 0..<30, threads: 2)])
        let chained = try F.logits(stages)
        #expect(whole.count == chained.count)
        for (a, b) in zip(whole, chained) { #expect(a.map(\.bitPattern) == b.map(\.bitPattern)) }

        // Original names; the embedding with the first range, the tied output with the last.
        let names = shards.map { Set($0.tensors.map(\.name)) }
        #expect(
            names[0].contains("token_embd.weight") && names[0].contains("blk.9.ffn_down.weight"))
        #expect(
            !names[0].contains("blk.10.attn_q.weight") && !names[0].contains("output_norm.weight"))
        #expect(names[1].count == 90 && !names[1].contains("token_embd.weight"))
        #expect(names[2].contains("token_embd.weight") && names[2].contains("output_norm.weight"))
        #expect(model.tensor(named: "output.weight") == nil)  // SmolLM2 ties its output
        // Together the shards hold every tensor of the model with the same bytes.
        #expect(names[0].union(names[1]).union(names[2]) == Set(model.tensors.map(\.name)))
        for shard in shards {
            for tensor in shard.tensors {
                let original = try #require(model.tensor(named: tensor.name))
                #expect(tensor.dimensions == original.dimensions && tensor.type == original.type)
                #expect(shard.bytes(of: tensor).elementsEqual(model.bytes(of: original)))
            }
        }
    }

    @Test func shardsKeepEveryMetadataKeyAndNameTheirRange() throws {
        let model = try F.model()
        let directory = try F.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/middle.gguf"
        _ = try ShardCutter.cut(model: model, modelSHA256: F.modelSHA256, layers: 10..<20, to: path)
        let shard = try GGUFFile(path: path)
        #expect(Array(shard.metadataKeys.prefix(model.metadataKeys.count)) == model.metadataKeys)
        for key in model.metadataKeys {
            #expect(shard.metadata[key] == model.metadata[key], "\(key)")
        }
        #expect(shard.metadata[ShardCutter.firstLayerKey] == .uint32(10))
        #expect(shard.metadata[ShardCutter.lastLayerKey] == .uint32(20))
        #expect(shard.metadata[ShardCutter.modelSHA256Key] == .string(F.modelSHA256))
        #expect(shard.version == 3)
    }

    @Test func theSameCutTwiceHasTheSameBytes() throws {
        let model = try F.model()
        let directory = try F.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let first = try ShardCutter.cut(
            model: model, modelSHA256: F.modelSHA256, layers: 20..<30, to: directory + "/a.gguf")
        let second = try ShardCutter.cut(
            model: model, modelSHA256: F.modelSHA256, layers: 20..<30, to: directory + "/b.gguf")
        #expect(first == second)
        #expect(first.hasOutput && !first.hasEmbedding)
        // Overwriting in place gives the same file again; no temporary files stay behind.
        let again = try ShardCutter.cut(
            model: model, modelSHA256: F.modelSHA256, layers: 20..<30, to: directory + "/a.gguf")
        #expect(again == first)
        #expect(
            try FileManager.default.contentsOfDirectory(atPath: directory).sorted() == [
                "a.gguf", "b.gguf",
            ])
        // The model hash is part of the shard, so another model's shard differs.
        let other = String(repeating: "0", count: 64)
        let foreign = try ShardCutter.cut(
            model: model, modelSHA256: other, layers: 20..<30, to: directory + "/c.gguf")
        #expect(foreign.sha256 != first.sha256)
    }

    @Test func vocabularyShardHasMetadataOnly() throws {
        let model = try F.model()
        let directory = try F.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/vocab.gguf"
        let info = try ShardCutter.cut(
            model: model, modelSHA256: F.modelSHA256, layers: 0..<0, to: path)
        #expect(!info.hasEmbedding && !info.hasOutput)
        let shard = try GGUFFile(path: path)
        #expect(shard.tensors.isEmpty)
        #expect(info.sizeBytes < 4 << 20)  // the tokenizer metadata, no weights
        let tokenizerKeys = model.metadataKeys.filter { $0.hasPrefix("tokenizer.") }
        #expect(
            tokenizerKeys.contains("tokenizer.ggml.tokens")
                && tokenizerKeys.contains("tokenizer.chat_template"))
        for key in tokenizerKeys { #expect(shard.metadata[key] == model.metadata[key], "\(key)") }
        // The gateway builds its tokenizer from it: same ids as from the model.
        let fromShard = try Tokenizer(gguf: shard)
        let fromModel = try Tokenizer(gguf: model)
        let text = "The capital of France is Paris. <|im_start|>"
        #expect(
            fromShard.encode(text, parseSpecial: true) == fromModel.encode(text, parseSpecial: true)
        )
    }

    /// The layout matches an independent build of the same content with `GGUFWriter`.
    @Test(arguments: [32, 64])
    func bytesMatchAGGUFWriterBuildOfTheSameContent(alignment: Int) throws {
        let directory = try F.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let model = try GGUFFile(bytes: try F.tinyModel(alignment: alignment))
        for range in [0..<1, 1..<2, 0..<2, 0..<0] {
            let path = "\(directory)/\(range.lowerBound)-\(range.upperBound).gguf"
            let info = try ShardCutter.cut(
                model: model, modelSHA256: F.modelSHA256, layers: range, to: path)
            var reference = GGUFWriter(alignment: alignment)
            for key in model.metadataKeys { reference.set(key, model.metadata[key]!) }
            reference.set("tessera.shard.first_layer", .uint32(UInt32(range.lowerBound)))
            reference.set("tessera.shard.last_layer", .uint32(UInt32(range.upperBound)))
            reference.set("tessera.shard.model_sha256", .string(F.modelSHA256))
            let names = try ShardCutter.tensorNames(model: model, layers: range)
            for tensor in model.tensors where names.contains(tensor.name) {
                try reference.addTensor(
                    name: tensor.name, dimensions: tensor.dimensions, type: tensor.type,
                    copying: model.bytes(of: tensor))
            }
            let written = try Data(contentsOf: URL(fileURLWithPath: path))
            #expect(Array(written) == (try reference.encoded()), "range \(range)")
            #expect(info.sha256 == FileDigest.sha256Hex(of: written))
        }
        // Tied output: the last range alone carries token_embd for the projection.
        #expect(
            try ShardCutter.tensorNames(model: model, layers: 1..<2).first == "token_embd.weight")
        #expect(
            try !ShardCutter.tensorNames(model: model, layers: 0..<1).contains("output_norm.weight")
        )
    }

    @Test func badRangesAndMissingTensorsAreNamed() throws {
        let model = try F.model()
        let directory = try F.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/bad.gguf"
        #expect(throws: ShardCutter.CutError.rangeOutsideModel(first: 25, last: 31, layerCount: 30))
        {
            try ShardCutter.cut(model: model, modelSHA256: F.modelSHA256, layers: 25..<31, to: path)
        }
        #expect(throws: ShardCutter.CutError.emptyRange(first: 5)) {
            try ShardCutter.cut(model: model, modelSHA256: F.modelSHA256, layers: 5..<5, to: path)
        }
        #expect(throws: ShardCutter.CutError.invalidModelHash("ABC")) {
            try ShardCutter.cut(model: model, modelSHA256: "ABC", layers: 0..<1, to: path)
        }
        let tiny = try GGUFFile(bytes: try F.tinyModel(dropping: "blk.1.ffn_up.weight"))
        #expect(throws: ShardCutter.CutError.missingTensor(name: "blk.1.ffn_up.weight")) {
            try ShardCutter.cut(model: tiny, modelSHA256: F.modelSHA256, layers: 0..<2, to: path)
        }
        // block 0 is whole
        _ = try ShardCutter.cut(model: tiny, modelSHA256: F.modelSHA256, layers: 0..<1, to: path)
        let noNorm = try GGUFFile(bytes: try F.tinyModel(dropping: "output_norm.weight"))
        #expect(throws: ShardCutter.CutError.missingTensor(name: "output_norm.weight")) {
            try ShardCutter.cut(model: noNorm, modelSHA256: F.modelSHA256, layers: 1..<2, to: path)
        }
        // A directory that does not exist: a write error naming the path, nothing left behind.
        #expect {
            try ShardCutter.cut(
                model: tiny, modelSHA256: F.modelSHA256, layers: 0..<1,
                to: directory + "/no/such/x.gguf")
        } throws: { error in
            "\(error)".contains("cannot write shard") && "\(error)".contains("/no/such/")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory) == ["bad.gguf"])
    }
}
