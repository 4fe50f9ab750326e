import Foundation
import GGUF
import Inference
import ModelArchitecture
import ModelStore
import Testing

/// Every model family through the model store: the cache-manager's analysis accepts it and
/// prices it from the shared architecture description, and shards cut from it chain to the
/// whole model's logits bit for bit. Models: scripts/reference/make_family_models.py (random
/// weights in each family's exact layout, kept in the model folder, rebuilt when missing).
@Suite(.serialized) struct FamilyShardTests {
    static let families = [
        "llama", "llama3", "mistral", "qwen2", "qwen3", "phi3", "gemma3", "llama-linear",
        "gemma3-options", "phi3-longrope",
    ]
    static let tokens: [Int32] = [1, 40, 7, 283, 155, 9, 261, 77, 123, 200]

    @Test(arguments: families)
    func shardsOfEveryFamilyChainBitForBit(family: String) throws {
        let model = try FamilyModelFiles.file("\(family)-q8_0")
        let analysis = try ModelAnalysis(model: model)
        #expect(analysis.architecture == (try ModelArchitecture(gguf: model)).family.rawValue)
        let layerCount = analysis.layerCount
        let directory = try ShardCutterFixtures.temporaryDirectory("families")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let cut = layerCount / 2
        var stages: [TransformerStage] = []
        for range in [0..<cut, cut..<layerCount] {
            let path = "\(directory)/\(range.lowerBound).gguf"
            _ = try ShardCutter.cut(
                model: model, modelSHA256: ShardCutterFixtures.modelSHA256, layers: range, to: path)
            let shard = try GGUFFile(path: path)
            if model.tensor(named: "rope_freqs.weight") != nil {
                // Every stage rotates, so every shard carries the frequency factors.
                #expect(shard.tensor(named: "rope_freqs.weight") != nil)
            }
            stages.append(try TransformerStage(file: shard, layers: range, threads: 2))
        }
        let whole = try TransformerStage(file: model, layers: 0..<layerCount, threads: 2)
        #expect(try Self.logits([whole]) == Self.logits(stages))
    }

    @Test func costsFollowEachFamilysBlock() throws {
        // Gemma 3's sliding-window layers attend to at most 4 positions, its global layer
        // (the sixth) to the whole reference context.
        let gemma = try ModelAnalysis(model: try FamilyModelFiles.file("gemma3-f16"))
        let flops = gemma.cost.layers.map(\.flopsPerToken)
        #expect(flops[0] == flops[4] && flops[5] > flops[0])
        let attention = 2 * 4 * 2 * 32  // heads × (keys + values) × head size, 2 flops each
        #expect(
            flops[5] - flops[0] == Double(attention * (ModelAnalysis.referenceContextTokens - 4)))
        // One KV head of 32: 2 × 32 values × 2 bytes per token and layer.
        #expect(gemma.cost.layers[0].kvBytesPerToken == 2 * 32 * 2)
        // Phi-3's fused tensors are weighed like any others: a layer's bytes are its tensors'.
        let phi3File = try FamilyModelFiles.file("phi3-q8_0")
        let phi3 = try ModelAnalysis(model: phi3File)
        let block0 = phi3File.tensors.filter { $0.name.hasPrefix("blk.0.") }
        #expect(phi3.cost.layers[0].weightBytes == block0.reduce(0) { $0 + $1.byteCount })
    }

    @Test func importRefusesModelsThatDoNotMatchTheirFamily() throws {
        let llama = try FamilyModelFiles.file("llama-f16")
        var writer = GGUFWriter(alignment: llama.alignment)
        for key in llama.metadataKeys { writer.set(key, llama.metadata[key]!) }
        writer.set("general.architecture", .string("rwkv7"))
        let unsupported = try GGUFFile(bytes: try writer.encoded())
        #expect {
            try ModelAnalysis(model: unsupported)
        } throws: { error in
            "\(error)".contains("'rwkv7'")
                && "\(error)".contains("llama, qwen2, qwen3, phi3, gemma3")
        }
        // The same model without one block tensor: refused at import, the tensor named.
        var partial = GGUFWriter(alignment: llama.alignment)
        for key in llama.metadataKeys { partial.set(key, llama.metadata[key]!) }
        for tensor in llama.tensors where tensor.name != "blk.2.ffn_gate.weight" {
            try partial.addTensor(
                name: tensor.name, dimensions: tensor.dimensions, type: tensor.type,
                bytes: Array(llama.bytes(of: tensor)))
        }
        #expect(throws: ArchitectureError.missingTensor(name: "blk.2.ffn_gate.weight")) {
            try ModelAnalysis(model: try GGUFFile(bytes: try partial.encoded()))
        }
    }

    /// Logits of every position of `tokens` through a chain of stages.
    static func logits(_ stages: [TransformerStage]) throws -> [Float] {
        var output = StageOutput.hidden([], count: 0)
        for (index, stage) in stages.enumerated() {
            let session = try stage.makeSession(contextLength: 32)
            let input: StageInput =
                index == 0 ? .tokens(tokens) : .hidden(output.values, count: tokens.count)
            output = try stage.forward(input, session: session, allLogits: true)
        }
        return output.values
    }
}

/// The random-weight family models, rebuilt from their seeds by
/// scripts/reference/make_family_models.py --models-only when missing (about a second; needs
/// the gguf and numpy packages, which scripts/setup installs). Tests/InferenceTests'
/// FamilyModels does the same for its target.
enum FamilyModelFiles {
    struct GenerationFailed: Error, CustomStringConvertible {
        let output: String
        var description: String {
            "scripts/reference/make_family_models.py --models-only failed:\n\(output)"
        }
    }

    static var directory: String { ModelLocator.modelDirectory + "/families" }

    private static let generated = Result { () throws -> Void in
        let missing = FamilyShardTests.families.contains { family in
            ["f16", "q8_0"].contains { type in
                !FileManager.default.fileExists(atPath: directory + "/\(family)-\(type).gguf")
            }
        }
        guard missing else { return }
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("scripts/reference/make_family_models.py").path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", script, "--models-only", "--out", directory]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw GenerationFailed(output: String(decoding: output.suffix(4000), as: UTF8.self))
        }
    }

    static func file(_ name: String) throws -> GGUFFile {
        try generated.get()
        return try GGUFFile(path: directory + "/\(name).gguf")
    }
}
