import GGUF
import Kernels
import Testing

/// Tests/Reference/ggml-quants/<TYPE>.json (scripts/reference/make_ggml_quants.py): bytes made
/// by ggml's C quantizer and their gguf-py dequantization, for every type Tessera makes.
struct GGMLQuantsFixture: Decodable {
    let type: String
    let blocks: [String]
    let values_per_label: Int
    let input_f32_hex: String
    let bytes_hex: String
    let dequantized_f32_hex: String

    static func load(_ type: GGMLType) throws -> GGMLQuantsFixture {
        try ReferenceFixtures.load(GGMLQuantsFixture.self, "ggml-quants/\(type.name).json")
    }

    var input: [Float] { Self.floats(hex: input_f32_hex) }
    var bytes: [UInt8] { ReferenceFixtures.bytes(hex: bytes_hex) }
    var dequantized: [Float] { Self.floats(hex: dequantized_f32_hex) }

    /// Little-endian float32 values stored as hex, so every bit (and -0) survives.
    static func floats(hex: String) -> [Float] {
        let raw = ReferenceFixtures.bytes(hex: hex)
        return stride(from: 0, to: raw.count, by: 4).map { offset in
            let bits =
                UInt32(raw[offset]) | UInt32(raw[offset + 1]) << 8 | UInt32(raw[offset + 2]) << 16
                | UInt32(raw[offset + 3]) << 24
            return Float(bitPattern: bits)
        }
    }
}

@Suite struct GGMLQuantsTests {
    static let types: [GGMLType] = [
        .q8_0, .q4_0, .q4_1, .q5_0, .q5_1, .q2_K, .q3_K, .q4_K, .q5_K, .q6_K,
    ]

    /// Each layout is declared once (the *Blocks enums); they must agree with ggml's table.
    @Test func blockLayoutsMatchGGMLSizes() {
        let layouts: [(GGMLType, Int, Int)] = [
            (.q8_0, Q8_0Blocks.blockSize, Q8_0Blocks.blockBytes),
            (.q4_0, Q4_0Blocks.blockSize, Q4_0Blocks.blockBytes),
            (.q4_1, Q4_1Blocks.blockSize, Q4_1Blocks.blockBytes),
            (.q5_0, Q5_0Blocks.blockSize, Q5_0Blocks.blockBytes),
            (.q5_1, Q5_1Blocks.blockSize, Q5_1Blocks.blockBytes),
            (.q2_K, Q2_KBlocks.blockSize, Q2_KBlocks.blockBytes),
            (.q3_K, Q3_KBlocks.blockSize, Q3_KBlocks.blockBytes),
            (.q4_K, Q4_KBlocks.blockSize, Q4_KBlocks.blockBytes),
            (.q5_K, Q5_KBlocks.blockSize, Q5_KBlocks.blockBytes),
            (.q6_K, Q6_KBlocks.blockSize, Q6_KBlocks.blockBytes),
        ]
        for (type, size, bytes) in layouts {
            #expect(size == type.blockSize, "\(type.name) block size")
            #expect(bytes == type.blockBytes, "\(type.name) block bytes")
        }
    }

    @Test(arguments: types)
    func dequantizesGGMLBlocksLikeGGUFPy(type: GGMLType) throws {
        let fixture = try GGMLQuantsFixture.load(type)
        let expected = fixture.dequantized
        let values = try TensorRows.dequantize(type, bytes: fixture.bytes, count: expected.count)
        for (label, range) in labelRanges(fixture) {
            let differing = range.filter { values[$0].bitPattern != expected[$0].bitPattern }
            #expect(
                differing.isEmpty,
                "\(type.name) \(label): \(differing.count) values differ, first at \(differing.first ?? -1)"
            )
        }
    }

    @Test(arguments: types)
    func quantizesLikeGGMLReference(type: GGMLType) throws {
        let fixture = try GGMLQuantsFixture.load(type)
        let bytes = try TensorRows.quantize(fixture.input, as: type)
        let expected = fixture.bytes
        #expect(bytes.count == expected.count)
        let bytesPerLabel = expected.count / fixture.blocks.count
        for (index, label) in fixture.blocks.enumerated() {
            let range = (index * bytesPerLabel)..<((index + 1) * bytesPerLabel)
            let differing = range.filter { bytes[$0] != expected[$0] }
            #expect(
                differing.isEmpty,
                "\(type.name) \(label): \(differing.count) bytes differ, first at \(differing.first.map { $0 - range.lowerBound } ?? -1)"
            )
        }
    }

    /// Zeros, NaN and infinities must not trap (the bytes are then whatever ggml's math gives).
    @Test(arguments: types)
    func oddInputDoesNotTrap(type: GGMLType) throws {
        let zeros = try TensorRows.dequantize(
            type, bytes: try TensorRows.quantize([Float](repeating: 0, count: 256), as: type),
            count: 256)
        #expect(zeros.allSatisfy { $0 == 0 })
        var odd = [Float](repeating: 1, count: 256)
        odd[3] = .nan
        odd[40] = .infinity
        odd[41] = -.infinity
        odd[200] = .greatestFiniteMagnitude
        _ = try TensorRows.quantize(odd, as: type)
    }

    private func labelRanges(_ fixture: GGMLQuantsFixture) -> [(String, Range<Int>)] {
        fixture.blocks.enumerated().map { index, label in
            (label, (index * fixture.values_per_label)..<((index + 1) * fixture.values_per_label))
        }
    }
}
