import GGUF
import Kernels
import Testing

/// Block layouts against gguf-py's dequantizer and ggml's reference quantizers.
@Suite struct TensorTypeTests {
    static let dequantTypes: [GGMLType] = [.f16, .q8_0, .q4_0, .q4_1, .q4_K, .q6_K]

    @Test(arguments: dequantTypes)
    func dequantizeMatchesGGUFPy(type: GGMLType) throws {
        let fixture = try ReferenceFixtures.load(DequantFixture.self, "dequant/\(type.name).json")
        #expect(fixture.type == type.name)
        #expect(!fixture.rows.isEmpty)
        for row in fixture.rows {
            let bytes = ReferenceFixtures.bytes(hex: row.bytes_hex)
            let values = try TensorRows.dequantize(type, bytes: bytes, count: fixture.row_length)
            // gguf-py computes in float32 with the same operation order, so the match is exact.
            let mismatches = zip(values, row.values).filter { $0.0.bitPattern != $0.1.bitPattern }
                .count
            #expect(
                mismatches == 0, "\(fixture.tensor) row \(row.row): \(mismatches) values differ")
        }
    }

    @Test(arguments: [GGMLType.q8_0, .q4_0, .q4_1])
    func quantizeMatchesGGMLReference(type: GGMLType) throws {
        let fixture = try ReferenceFixtures.load(QuantizeFixture.self, "quantize/\(type.name).json")
        let bytes = try TensorRows.quantize(type, fixture.input)
        #expect(bytes == ReferenceFixtures.bytes(hex: fixture.bytes_hex))
    }

    @Test(arguments: [GGMLType.q8_0, .q4_0, .q4_1, .f16])
    func roundTripErrorIsWithinHalfAStep(type: GGMLType) throws {
        var generator = SeededGenerator(seed: 7)
        let input = generator.floats(32 * 16, in: -3...3)
        let decoded = try TensorRows.dequantize(
            type, bytes: try TensorRows.quantize(type, input), count: input.count)
        for block in 0..<16 {
            let slice = input[(block * 32)..<(block * 32 + 32)]
            let spread = (slice.max()! - slice.min()!)
            let magnitude = slice.map(abs).max()!
            // Half a quantization step, plus slack for the f16-rounded scale. Q4_0's grid is
            // [-8d, 7d] with d = -max/8, so the value opposite the extreme may lose a whole step.
            let bound: Float =
                switch type {
                case .q8_0: magnitude / 127 * 0.51
                case .q4_0: magnitude / 8 * 1.01
                case .q4_1: spread / 15 * 0.51
                default: magnitude / 2048
                }
            for index in slice.indices {
                #expect(abs(decoded[index] - input[index]) <= bound + 1e-3 * magnitude)
            }
        }
    }

    @Test func quantizingZerosAndNonFiniteValuesDoesNotTrap() throws {
        for type in [GGMLType.q8_0, .q4_0, .q4_1] {
            let zeros = try TensorRows.dequantize(
                type, bytes: try TensorRows.quantize(type, [Float](repeating: 0, count: 32)),
                count: 32)
            #expect(zeros.allSatisfy { $0 == 0 })
            var weird = [Float](repeating: 1, count: 32)
            weird[3] = .nan
            weird[5] = .infinity
            _ = try TensorRows.quantize(type, weird)
        }
    }

    @Test func badInputThrowsClearErrors() {
        #expect(throws: KernelError.notWholeBlocks(.q4_1, elements: 33)) {
            try TensorRows.quantize(.q4_1, [Float](repeating: 0, count: 33))
        }
        #expect(throws: KernelError.unsupportedType(.iq2_xxs, operation: "dequantization")) {
            try TensorRows.dequantize(
                .iq2_xxs, bytes: [UInt8](repeating: 0, count: GGMLType.iq2_xxs.blockBytes),
                count: 256)
        }
        #expect(throws: KernelError.self) {
            try TensorRows.dequantize(.q8_0, bytes: [1, 2, 3], count: 32)
        }
        #expect(throws: KernelError.unsupportedType(.iq2_xxs, operation: "quantization")) {
            try TensorRows.quantize(.iq2_xxs, [Float](repeating: 0, count: 256))
        }
    }

    /// A hand-built Q4_K block checks the 6-bit scale/min packing independently of fixtures.
    @Test func q4KScalePackingMatchesTheLayout() throws {
        var block = [UInt8](repeating: 0, count: 144)
        let one = Float16(1).bitPattern
        let half = Float16(0.5).bitPattern
        block[0] = UInt8(one & 0xFF)
        block[1] = UInt8(one >> 8)
        block[2] = UInt8(half & 0xFF)
        block[3] = UInt8(half >> 8)
        // Sub-block scales 1...8 and mins 8...1, packed as ggml does (high 2 bits of 4..7 in 0..7's top bits).
        let scales: [UInt8] = [1, 2, 3, 4, 45, 50, 60, 63]
        let mins: [UInt8] = [8, 7, 6, 5, 33, 40, 17, 63]
        for j in 0..<4 {
            block[4 + j] = scales[j] | ((scales[j + 4] >> 4) << 6)
            block[8 + j] = mins[j] | ((mins[j + 4] >> 4) << 6)
            block[12 + j] = (scales[j + 4] & 0x0F) | ((mins[j + 4] & 0x0F) << 4)
        }
        for index in 0..<128 {
            block[16 + index] = UInt8(index % 16) | UInt8((15 - index % 16) << 4)
        }
        let values = try TensorRows.dequantize(.q4_K, bytes: block, count: 256)
        for element in 0..<256 {
            let sub = element / 32
            let within = element % 32
            let pair = sub / 2
            let byte = block[16 + pair * 32 + within]
            let nibble = sub % 2 == 0 ? byte & 0x0F : byte >> 4
            let expected = 1 * Float(scales[sub]) * Float(nibble) - 0.5 * Float(mins[sub])
            #expect(values[element] == expected, "element \(element)")
        }
    }
}
