import Foundation
import GGUF
import Inference
import Integrity

/// The real default model and a tiny synthetic llama model, for shard and catalog tests.
enum ShardCutterFixtures {
    struct Missing: Error, CustomStringConvertible {
        let path: String
        var description: String {
            "test model not found at \(path); run scripts/fetch-model to download it"
        }
    }

    struct Unexpected: Error {}

    static let modelPath = ModelLocator.path(forName: ModelLocator.defaultModelName)
    static let modelSHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"

    private static let shared = Result { () throws -> GGUFFile in
        guard FileManager.default.fileExists(atPath: modelPath) else {
            throw Missing(path: modelPath)
        }
        return try GGUFFile(path: modelPath)
    }

    /// The mapped default model, opened once per test process.
    static func model() throws -> GGUFFile { try shared.get() }

    /// A fresh directory under the system temporary directory.
    static func temporaryDirectory(_ label: String = "shards") throws -> String {
        let path = FileManager.default.temporaryDirectory
            .appendingPathComponent("tessera-\(label)-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    static let prompt: [Int32] = [504, 3575, 282, 4649, 314, 7042, 30, 378, 3575, 282, 4536, 314]
    static let decodeTokens: [Int32] = [17542, 30]

    /// Logits for every prompt position, then for each decode step, through a chain of stages.
    static func logits(_ stages: [TransformerStage]) throws -> [[Float]] {
        let sessions = try stages.map { try $0.makeSession(contextLength: 32) }
        func step(_ tokens: [Int32], all: Bool) throws -> [Float] {
            var output = try stages[0].forward(
                .tokens(tokens), session: sessions[0], allLogits: all)
            for index in 1..<stages.count {
                guard case .hidden(let values, let count) = output else { throw Unexpected() }
                output = try stages[index].forward(
                    .hidden(values, count: count), session: sessions[index], allLogits: all)
            }
            guard case .logits(let logits, _) = output else { throw Unexpected() }
            return logits
        }
        var results = [try step(prompt, all: true)]
        for token in decodeTokens { results.append(try step([token], all: false)) }
        return results
    }

    /// A tiny llama-shaped model (2 blocks, width 32, f32 weights, tied output), optionally
    /// without one tensor. Values are a deterministic pattern; nobody runs it.
    static func tinyModel(dropping dropped: String? = nil, alignment: Int = 32) throws -> [UInt8] {
        var writer = GGUFWriter(alignment: alignment)
        writer.set("general.architecture", .string("llama"))
        writer.set("general.name", .string("tiny"))
        writer.set("llama.block_count", .uint32(2))
        writer.set("llama.embedding_length", .uint32(32))
        writer.set("llama.feed_forward_length", .uint32(64))
        writer.set("llama.attention.head_count", .uint32(4))
        writer.set("llama.attention.head_count_kv", .uint32(2))
        writer.set("llama.context_length", .uint32(128))
        writer.set("tokenizer.ggml.tokens", .array((0..<16).map { .string("t\($0)") }))
        for (name, dimensions) in tinyTensors() where name != dropped {
            let count = dimensions.reduce(1, *)
            let values = (0..<count).map { Float(($0 * 7 + name.count) % 13) / 13 }
            let bytes = values.withUnsafeBytes { Array($0) }
            try writer.addTensor(name: name, dimensions: dimensions, type: .f32, bytes: bytes)
        }
        return try writer.encoded()
    }

    static func tinyTensors() -> [(String, [Int])] {
        var tensors: [(String, [Int])] = [("token_embd.weight", [32, 16])]
        for block in 0..<2 {
            let prefix = "blk.\(block)."
            tensors += [
                (prefix + "attn_norm.weight", [32]), (prefix + "attn_q.weight", [32, 32]),
                (prefix + "attn_k.weight", [32, 16]), (prefix + "attn_v.weight", [32, 16]),
                (prefix + "attn_output.weight", [32, 32]), (prefix + "ffn_norm.weight", [32]),
                (prefix + "ffn_gate.weight", [32, 64]), (prefix + "ffn_up.weight", [32, 64]),
                (prefix + "ffn_down.weight", [64, 32]),
            ]
        }
        tensors.append(("output_norm.weight", [32]))
        return tensors
    }

    /// Writes `bytes` to a new file in `directory` and returns its path.
    static func write(_ bytes: [UInt8], named name: String, in directory: String) throws -> String {
        let path = directory + "/" + name
        try Data(bytes).write(to: URL(fileURLWithPath: path), options: .atomic)
        return path
    }
}
