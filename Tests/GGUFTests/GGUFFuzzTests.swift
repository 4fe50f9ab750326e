import GGUF
import Testing

/// Seeded random mutations of valid files: every mutated copy must either parse or throw a
/// GGUFError — never crash, hang or allocate absurdly.
@Suite struct GGUFFuzzTests {
    private static func smallFile() throws -> [UInt8] {
        var writer = GGUFWriter()
        writer.set("general.architecture", .string("llama"))
        writer.set("tokenizer.ggml.tokens", .array(["a", "b", "<s>"].map { .string($0) }))
        writer.set("tokenizer.ggml.scores", .array([.float32(0), .float32(-1), .float32(-2)]))
        writer.set("nested", .array([.array([.uint64(1)]), .array([.uint64(2), .uint64(3)])]))
        try writer.addTensor(
            name: "w", dimensions: [32, 2], type: .q8_0, bytes: [UInt8](repeating: 1, count: 68))
        try writer.addTensor(
            name: "n", dimensions: [4], type: .f32, bytes: [UInt8](repeating: 2, count: 16))
        return try writer.encoded()
    }

    private static func mutate(_ input: [UInt8], using rng: inout SeededGenerator) -> [UInt8] {
        var bytes = input
        for _ in 0..<Int.random(in: 1...4, using: &rng) {
            guard !bytes.isEmpty else { break }
            let position = Int.random(in: 0..<bytes.count, using: &rng)
            switch Int.random(in: 0..<5, using: &rng) {
            case 0: bytes[position] ^= UInt8(1 << Int.random(in: 0..<8, using: &rng))
            case 1: bytes[position] = UInt8.random(in: 0...255, using: &rng)
            case 2: bytes.removeSubrange(position...)  // truncate
            case 3:  // overwrite a little-endian u64 with an extreme value
                let extremes: [UInt64] = [0, 1, .max, 1 << 32, 1 << 63, UInt64(UInt32.max)]
                let value = extremes.randomElement(using: &rng)!
                for i in 0..<8 where position + i < bytes.count {
                    bytes[position + i] = UInt8(truncatingIfNeeded: value >> (8 * i))
                }
            default: bytes.insert(UInt8.random(in: 0...255, using: &rng), at: position)
            }
        }
        return bytes
    }

    private static func run(_ seedBytes: [UInt8], iterations: Int, seed: UInt64, label: String) -> (
        parsed: Int, threw: Int
    ) {
        var rng = SeededGenerator(seed: seed)
        var parsed = 0
        var threw = 0
        for _ in 0..<iterations {
            let mutated = mutate(seedBytes, using: &rng)
            do {
                let file = try GGUFFile(bytes: mutated)
                for tensor in file.tensors {
                    #expect(file.bytes(of: tensor).count == tensor.byteCount)
                }
                parsed += 1
            } catch is GGUFError {
                threw += 1
            } catch {
                Issue.record("non-GGUF error \(error)")
            }
        }
        print(
            "GGUF fuzz (\(label)): survived \(parsed + threw) of \(iterations) mutated inputs (\(parsed) parsed, \(threw) threw)"
        )
        return (parsed, threw)
    }

    @Test func mutatedSmallFilesNeverCrash() throws {
        let result = Self.run(
            try Self.smallFile(), iterations: 4000, seed: 0x7E55E7A, label: "small written file")
        #expect(result.parsed + result.threw == 4000)
        #expect(result.parsed > 0 && result.threw > 0)
    }

    @Test func mutatedRealHeaderNeverCrashes() throws {
        let model = try GGUFFile(path: try TestSupport.modelPath())
        // The real header as-is: its tensors then lie past the end of each small copy, so this
        // exercises the metadata and tensor-info paths up to the final bounds check.
        let header = Array(model.rawBytes.prefix(model.dataOffset + 64))
        let headerRun = Self.run(header, iterations: 300, seed: 42, label: "real SmolLM2 header")
        #expect(headerRun.parsed + headerRun.threw == 300)

        // The real metadata (49152-token vocabulary and all) rewritten with two small real
        // tensors, so that mutated copies can also parse successfully.
        var writer = GGUFWriter()
        for key in model.metadataKeys { writer.set(key, model.metadata[key]!) }
        for name in ["blk.0.attn_norm.weight", "output_norm.weight"] {
            let tensor = try #require(model.tensor(named: name))
            try writer.addTensor(
                name: name, dimensions: tensor.dimensions, type: tensor.type,
                copying: model.bytes(of: tensor))
        }
        let rewritten = Self.run(
            try writer.encoded(), iterations: 300, seed: 43, label: "real SmolLM2 metadata")
        #expect(rewritten.parsed + rewritten.threw == 300)
        #expect(rewritten.parsed > 0)
    }
}
