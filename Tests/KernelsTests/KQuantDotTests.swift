import CKernels
import Foundation
import GGUF
import Testing

@testable import Kernels

/// The K-quant integer kernels (Q8_K activations): native (AVX2) and Swift give the same bits,
/// a token's result does not depend on the batch, and the result is close to the exact
/// product of the dequantized weights.
@Suite struct KQuantDotTests {
    static let types: [GGMLType] = [.q2_K, .q3_K, .q4_K, .q5_K, .q6_K]

    /// rows × columns of `type`: quantized random floats (`rawBytes` false) or random bytes
    /// with random finite half-precision d/dmin (every quant and scale value reachable).
    static func weights(_ type: GGMLType, rows: Int, columns: Int, seed: UInt64, rawBytes: Bool)
        throws -> [UInt8]
    {
        var generator = SeededGenerator(seed: seed)
        guard rawBytes else {
            return try TensorRows.quantize(generator.floats(rows * columns, in: -2...2), as: type)
        }
        var bytes = (0..<(rows * columns / 256 * type.blockBytes)).map { _ in
            UInt8.random(in: 0...255, using: &generator)
        }
        let halfOffsets: [Int] =
            switch type {
            case .q2_K: [80, 82]
            case .q3_K: [108]
            case .q6_K: [208]
            default: [0, 2]
            }
        for block in stride(from: 0, to: bytes.count, by: type.blockBytes) {
            for offset in halfOffsets {
                let sign: Float = Bool.random(using: &generator) ? 1 : -1
                let magnitude = Float.random(in: -16...0, using: &generator)
                let bits = Float16(sign * exp2(magnitude)).bitPattern
                bytes[block + offset] = UInt8(bits & 0xFF)
                bytes[block + offset + 1] = UInt8(bits >> 8)
            }
        }
        return bytes
    }

    static func run(
        _ type: GGMLType, _ bytes: [UInt8], rows: Int, columns: Int, input: [Float], tokens: Int,
        native: Bool
    ) -> [Float] {
        let activations = Q8KActivations(columns: columns, capacity: tokens)
        input.withUnsafeBufferPointer { activations.quantize($0.baseAddress!, tokens: tokens) }
        var output = [Float](repeating: .nan, count: tokens * rows)
        let rowBytes = bytes.count / rows
        bytes.withUnsafeBytes { raw in
            output.withUnsafeMutableBufferPointer { out in
                if native {
                    let done = tessera_kquant_dot_rows(
                        Int32(type.rawValue), raw.baseAddress!.assumingMemoryBound(to: UInt8.self),
                        rowBytes, 0, Int32(rows), Int32(columns), activations.values,
                        activations.scales, activations.blockSums, Int32(tokens),
                        out.baseAddress!, rows)
                    precondition(done != 0)
                } else {
                    KQuantDotKernels.multiplyInSwift(
                        type: type, weights: raw.baseAddress!, rowBytes: rowBytes,
                        columns: columns, rows: 0..<rows, activations: activations,
                        output: out.baseAddress!, outputStride: rows)
                }
            }
        }
        return output
    }

    @Test(arguments: types)
    func nativeAndSwiftKernelsGiveTheSameBits(type: GGMLType) throws {
        guard tessera_dot_level() > 0 else {
            print("KQuantDotTests: no native kernels on this machine; parity skipped")
            return
        }
        var seed: UInt64 = 100
        for (rows, columns) in [(5, 256), (9, 512), (3, 1536), (4, 2304)] {
            for rawBytes in [false, true] {
                seed += 1
                let bytes = try Self.weights(
                    type, rows: rows, columns: columns, seed: seed, rawBytes: rawBytes)
                var generator = SeededGenerator(seed: seed * 7)
                let tokens = 3
                var input = generator.floats(tokens * columns, in: -4...4)
                input[columns / 2] = 300  // an outlier: the other values use few levels
                let swift = Self.run(
                    type, bytes, rows: rows, columns: columns, input: input, tokens: tokens,
                    native: false)
                let native = Self.run(
                    type, bytes, rows: rows, columns: columns, input: input, tokens: tokens,
                    native: true)
                let differing = zip(swift, native).filter { $0.0.bitPattern != $0.1.bitPattern }
                #expect(
                    differing.isEmpty,
                    "\(type.name) \(rows)x\(columns) raw \(rawBytes): \(differing.count) differ, e.g. \(differing.first.map { "\($0)" } ?? "")"
                )
            }
        }
    }

    /// Through the multiplier's `.independentRows` path: token t alone == token t in a batch.
    @Test(arguments: types)
    func batchedTokensMatchTokensAlone(type: GGMLType) throws {
        let rows = 13
        let columns = 512
        let bytes = try Self.weights(type, rows: rows, columns: columns, seed: 5, rawBytes: false)
        var generator = SeededGenerator(seed: 9)
        let tokens = 7
        let input = generator.floats(tokens * columns, in: -3...3)
        let multiplier = MatrixMultiplier(pool: ThreadPool(threads: 2))
        try bytes.withUnsafeBytes { raw in
            let weight = try WeightMatrix(type: type, rows: rows, columns: columns, bytes: raw)
            var batched = [Float](repeating: .nan, count: tokens * rows)
            try batched.withUnsafeMutableBufferPointer { out in
                try multiplier.multiply(
                    [MatmulTarget(weight, output: out.baseAddress!)], input: input,
                    tokens: tokens, path: .independentRows)
            }
            for token in 0..<tokens {
                var alone = [Float](repeating: .nan, count: rows)
                let single = Array(input[(token * columns)..<((token + 1) * columns)])
                try alone.withUnsafeMutableBufferPointer { out in
                    try multiplier.multiply(
                        [MatmulTarget(weight, output: out.baseAddress!)], input: single,
                        tokens: 1, path: .independentRows)
                }
                for row in 0..<rows {
                    #expect(
                        alone[row].bitPattern == batched[token * rows + row].bitPattern,
                        "\(type.name) token \(token) row \(row)")
                }
            }
        }
    }

    /// One call over matrices of different kinds sharing an input (K-quant, 32-block and
    /// float: both activation formats are made) equals each matrix multiplied on its own.
    @Test func mixedTypesInOneCallMatchSeparateCalls() throws {
        let columns = 512
        let types: [GGMLType] = [.q4_K, .q5_0, .f16, .q6_K]
        let matrices = try types.enumerated().map { index, type in
            try Self.weights(
                type, rows: 9, columns: columns, seed: 40 + UInt64(index), rawBytes: false)
        }
        var generator = SeededGenerator(seed: 41)
        let tokens = 2
        let input = generator.floats(tokens * columns, in: -3...3)
        let multiplier = MatrixMultiplier(pool: ThreadPool(threads: 2))
        var together = [[Float]](repeating: [Float](repeating: .nan, count: tokens * 9), count: 4)
        var separate = together
        func weight(_ index: Int, _ raw: UnsafeRawBufferPointer) throws -> WeightMatrix {
            try WeightMatrix(type: types[index], rows: 9, columns: columns, bytes: raw)
        }
        // Matrices and outputs stay alive for the whole test (arrays are not moved meanwhile).
        let raws = matrices.map { bytes -> UnsafeMutableRawBufferPointer in
            let raw = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes.count, alignment: 16)
            bytes.withUnsafeBytes { raw.copyMemory(from: $0) }
            return raw
        }
        let outputs = (0..<8).map { _ in
            UnsafeMutablePointer<Float>.allocate(capacity: tokens * 9)
        }
        defer {
            for raw in raws { raw.deallocate() }
            for output in outputs { output.deallocate() }
        }
        let targets = try (0..<4).map {
            MatmulTarget(try weight($0, UnsafeRawBufferPointer(raws[$0])), output: outputs[$0])
        }
        try multiplier.multiply(targets, input: input, tokens: tokens, path: .independentRows)
        for index in 0..<4 {
            let alone = MatmulTarget(
                try weight(index, UnsafeRawBufferPointer(raws[index])), output: outputs[4 + index])
            try multiplier.multiply([alone], input: input, tokens: tokens, path: .independentRows)
            together[index] = Array(UnsafeBufferPointer(start: outputs[index], count: tokens * 9))
            separate[index] = Array(
                UnsafeBufferPointer(start: outputs[4 + index], count: tokens * 9))
        }
        #expect(together == separate)
    }

    /// Close to the double-precision product of the dequantized weights: the only error is
    /// the activations' 8-bit rounding, at most half a step (max|x| / 127 / 2) per value.
    @Test(arguments: types)
    func resultIsCloseToTheExactProduct(type: GGMLType) throws {
        let rows = 17
        let columns = 768
        let bytes = try Self.weights(type, rows: rows, columns: columns, seed: 11, rawBytes: false)
        var generator = SeededGenerator(seed: 12)
        let tokens = 2
        let input = generator.floats(tokens * columns, in: -2...2)
        try bytes.withUnsafeBytes { raw in
            let weight = try WeightMatrix(type: type, rows: rows, columns: columns, bytes: raw)
            let reference = try ScalarReference.matmul(weight, input: input, tokens: tokens)
            let output = Self.run(
                type, bytes, rows: rows, columns: columns, input: input, tokens: tokens,
                native: false)
            var decoded = [Float](repeating: 0, count: columns)
            for row in 0..<rows {
                try decoded.withUnsafeMutableBufferPointer {
                    try weight.decodeRow(row, into: $0.baseAddress!)
                }
                let weightMass = decoded.reduce(0) { $0 + abs($1) }
                for token in 0..<tokens {
                    let tolerance = weightMass * (2.0 / 254) * 1.01 + 1e-4
                    let got = output[token * rows + row]
                    let want = reference[token * rows + row]
                    #expect(
                        abs(got - want) <= tolerance, "\(type.name) row \(row): \(got) vs \(want)")
                }
            }
        }
    }
}

/// Q8KActivations against ggml's quantize_row_q8_K_ref bit for bit
/// (Tests/Reference/ggml-quants/Q8_K-activations.json, scripts/reference/make_ggml_quants.py).
@Suite struct Q8KActivationTests {
    struct Fixture: Decodable {
        let rows: [String]
        let columns: Int
        let input_f32_hex: String
        let bytes_hex: String
    }

    @Test func quantizesLikeGGML() throws {
        let fixture = try ReferenceFixtures.load(Fixture.self, "ggml-quants/Q8_K-activations.json")
        let input = GGMLQuantsFixture.floats(hex: fixture.input_f32_hex)
        let expected = ReferenceFixtures.bytes(hex: fixture.bytes_hex)
        let tokens = fixture.rows.count
        let columns = fixture.columns
        let activations = Q8KActivations(columns: columns, capacity: tokens)
        input.withUnsafeBufferPointer { activations.quantize($0.baseAddress!, tokens: tokens) }
        let blocks = tokens * columns / 256
        #expect(expected.count == blocks * 292)
        for block in 0..<blocks {
            let label = "\(fixture.rows[block / (columns / 256)]) block \(block)"
            let ggml = Array(expected[(block * 292)..<((block + 1) * 292)])
            let scaleBits =
                UInt32(ggml[0]) | UInt32(ggml[1]) << 8 | UInt32(ggml[2]) << 16
                | UInt32(ggml[3]) << 24
            #expect(activations.scales[block].bitPattern == scaleBits, "\(label): d")
            let values = (0..<256).map { UInt8(bitPattern: activations.values[block * 256 + $0]) }
            #expect(values == Array(ggml[4..<260]), "\(label): values")
            let sums = (0..<16).map { group -> Int16 in
                Int16(
                    bitPattern: UInt16(ggml[260 + 2 * group]) | UInt16(ggml[261 + 2 * group]) << 8)
            }
            #expect(
                (0..<16).map { activations.blockSums[block * 16 + $0] } == sums, "\(label): sums")
        }
    }
}
