import Foundation
import GGUF

/// A small llama-shaped model for variant tests: width 256 (so K-quants fit the attention
/// and FFN input rows) but an FFN of 320, so `ffn_down`'s rows (320 values) need the
/// K-quant fallback, as SmolLM2's 576-wide rows do. Layer weights are F32, the embedding
/// F16 (to see it keep its type), norms F32; values are a seeded pseudo-normal pattern.
enum VariantFixtures {
    static let width = 256
    static let feedForward = 320
    static let vocabulary = 32

    static func tensors() -> [(name: String, dimensions: [Int])] {
        var tensors: [(String, [Int])] = [("token_embd.weight", [width, vocabulary])]
        for block in 0..<2 {
            let prefix = "blk.\(block)."
            tensors += [
                (prefix + "attn_norm.weight", [width]), (prefix + "attn_q.weight", [width, width]),
                (prefix + "attn_k.weight", [width, 128]), (prefix + "attn_v.weight", [width, 128]),
                (prefix + "attn_output.weight", [width, width]),
                (prefix + "ffn_norm.weight", [width]),
                (prefix + "ffn_gate.weight", [width, feedForward]),
                (prefix + "ffn_up.weight", [width, feedForward]),
                (prefix + "ffn_down.weight", [feedForward, width]),
            ]
        }
        tensors.append(("output_norm.weight", [width]))
        return tensors
    }

    static func modelBytes() throws -> [UInt8] {
        var writer = GGUFWriter()
        writer.set("general.architecture", .string("llama"))
        writer.set("general.name", .string("variant fixture"))
        writer.set("general.file_type", .uint32(0))
        writer.set("llama.block_count", .uint32(2))
        writer.set("llama.embedding_length", .uint32(UInt32(width)))
        writer.set("llama.feed_forward_length", .uint32(UInt32(feedForward)))
        writer.set("llama.attention.head_count", .uint32(4))
        writer.set("llama.attention.head_count_kv", .uint32(2))
        writer.set("llama.context_length", .uint32(128))
        writer.set(
            "tokenizer.ggml.tokens", .array((0..<vocabulary).map { .string("t\($0)") }))
        var generator = SeededValues(seed: 20_261_201)
        for (name, dimensions) in tensors() {
            let count = dimensions.reduce(1, *)
            var values = [Float](repeating: 0, count: count)
            for index in 0..<count { values[index] = generator.next() * 0.05 }
            if name == "token_embd.weight" {
                let halves = values.map { Float16($0) }
                try writer.addTensor(
                    name: name, dimensions: dimensions, type: .f16,
                    bytes: halves.withUnsafeBytes { Array($0) })
            } else {
                try writer.addTensor(
                    name: name, dimensions: dimensions, type: .f32,
                    bytes: values.withUnsafeBytes { Array($0) })
            }
        }
        return try writer.encoded()
    }

    /// Writes the fixture model into a fresh directory; returns the directory and the path.
    static func writeModel() throws -> (directory: String, path: String) {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("tessera-variants-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(
            atPath: directory, withIntermediateDirectories: true)
        let path = directory + "/fixture.gguf"
        try Data(try modelBytes()).write(to: URL(fileURLWithPath: path))
        return (directory, path)
    }
}

/// A deterministic pseudo-normal sequence (sum of uniforms), the same on every platform.
struct SeededValues {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> Float {
        var sum: Float = 0
        for _ in 0..<4 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            sum += Float(state >> 40) / Float(1 << 24)
        }
        return (sum - 2) * 1.7
    }
}
