import GGUF
import Kernels
import Testing

/// The fast products (integer Q8 path for few tokens, decoded-tile GEMM for many) against the
/// double-precision scalar reference, for every supported weight type.
@Suite struct MatrixMultiplierTests {
    static let weightTypes: [GGMLType] = [
        .q4_1, .q4_0, .q8_0, .q5_0, .q5_1, .q2_K, .q3_K, .q4_K, .q5_K, .q6_K, .f16, .f32,
    ]

    /// A rows × columns matrix of `type` with random contents (kept alive by the returned array).
    static func randomMatrix(_ type: GGMLType, rows: Int, columns: Int, seed: UInt64) throws
        -> [UInt8]
    {
        var generator = SeededGenerator(seed: seed)
        switch type {
        case .q4_K, .q6_K:
            // No quantizer for k-quants: random bytes with small, sane super-block scales.
            let rowBytes = try type.byteCount(elements: columns)
            var bytes = (0..<(rows * rowBytes)).map { _ in
                UInt8.random(in: 0...255, using: &generator)
            }
            let scaleBits = Float16(0.01).bitPattern
            for block in stride(from: 0, to: bytes.count, by: type.blockBytes) {
                let offsets = type == .q4_K ? [0, 2] : [208]
                for offset in offsets {
                    bytes[block + offset] = UInt8(scaleBits & 0xFF)
                    bytes[block + offset + 1] = UInt8(scaleBits >> 8)
                }
            }
            return bytes
        default:
            return try TensorRows.quantize(type, generator.floats(rows * columns))
        }
    }

    func check(type: GGMLType, rows: Int, columns: Int, tokens: Int, threads: Int) throws {
        let bytes = try Self.randomMatrix(
            type, rows: rows, columns: columns, seed: UInt64(rows * 31 + columns))
        var generator = SeededGenerator(seed: UInt64(tokens))
        let input = generator.floats(tokens * columns, in: -2...2)
        try bytes.withUnsafeBytes { raw in
            let weight = try WeightMatrix(type: type, rows: rows, columns: columns, bytes: raw)
            let reference = try ScalarReference.matmul(weight, input: input, tokens: tokens)
            var output = [Float](repeating: .nan, count: tokens * rows)
            let multiplier = MatrixMultiplier(pool: ThreadPool(threads: threads))
            try output.withUnsafeMutableBufferPointer { out in
                try multiplier.multiply(
                    [MatmulTarget(weight, output: out.baseAddress!)], input: input, tokens: tokens)
            }
            // Bound: 8-bit activation rounding (half a step of max|x|/127 per value) or float rounding.
            var rowValues = [Float](repeating: 0, count: columns)
            for r in 0..<rows {
                try rowValues.withUnsafeMutableBufferPointer {
                    try weight.decodeRow(r, into: $0.baseAddress!)
                }
                let weightMass = rowValues.reduce(0) { $0 + abs($1) }
                for t in 0..<tokens {
                    let got = output[t * rows + r]
                    let want = reference[t * rows + r]
                    let tolerance = weightMass * (2.0 / 254) * 1.05 + 1e-3
                    #expect(
                        abs(got - want) <= tolerance,
                        "\(type.name) row \(r) token \(t): \(got) vs \(want)")
                }
            }
        }
    }

    @Test(arguments: weightTypes)
    func decodeSizedBatches(type: GGMLType) throws {
        let columns = type.blockSize == 256 ? 512 : 96
        for tokens in [1, 2, 3] {
            try check(type: type, rows: 37, columns: columns, tokens: tokens, threads: 2)
        }
    }

    @Test(arguments: weightTypes)
    func prefillSizedBatches(type: GGMLType) throws {
        let columns = type.blockSize == 256 ? 512 : 160
        for tokens in [4, 7, 9] {
            try check(type: type, rows: 41, columns: columns, tokens: tokens, threads: 3)
        }
    }

    /// Float matrices whose width is not a multiple of 32 take the row-by-row path.
    @Test func oddWidthFloatMatrices() throws {
        for type in [GGMLType.f32, .f16] {
            for tokens in [1, 6] {
                try check(type: type, rows: 9, columns: 40, tokens: tokens, threads: 2)
            }
        }
    }

    /// Several matrices sharing one input, split over threads, give exactly the single-thread result.
    @Test func resultsDoNotDependOnThreadCount() throws {
        let columns = 128
        let a = try Self.randomMatrix(.q4_1, rows: 70, columns: columns, seed: 1)
        let b = try Self.randomMatrix(.q8_0, rows: 33, columns: columns, seed: 2)
        var generator = SeededGenerator(seed: 3)
        for tokens in [1, 5] {
            let input = generator.floats(tokens * columns)
            var results: [[Float]] = []
            for threads in [1, 2, 4] {
                var outA = [Float](repeating: 0, count: tokens * 70)
                var outB = [Float](repeating: 0, count: tokens * 33)
                try a.withUnsafeBytes { rawA in
                    try b.withUnsafeBytes { rawB in
                        let wa = try WeightMatrix(
                            type: .q4_1, rows: 70, columns: columns, bytes: rawA)
                        let wb = try WeightMatrix(
                            type: .q8_0, rows: 33, columns: columns, bytes: rawB)
                        try outA.withUnsafeMutableBufferPointer { pa in
                            try outB.withUnsafeMutableBufferPointer { pb in
                                try MatrixMultiplier(pool: ThreadPool(threads: threads)).multiply(
                                    [
                                        MatmulTarget(wa, output: pa.baseAddress!),
                                        MatmulTarget(wb, output: pb.baseAddress!),
                                    ],
                                    input: input, tokens: tokens)
                            }
                        }
                    }
                }
                results.append(outA + outB)
            }
            #expect(results[0] == results[1] && results[1] == results[2])
        }
    }

    @Test func invalidMatricesAreRejected() throws {
        let bytes = [UInt8](repeating: 0, count: 64)
        try bytes.withUnsafeBytes { raw in
            #expect(
                throws: KernelError.unsupportedType(.iq4_nl, operation: "matrix multiplication")
            ) {
                try WeightMatrix(type: .iq4_nl, rows: 1, columns: 32, bytes: raw)
            }
            #expect(throws: KernelError.self) {
                try WeightMatrix(type: .q8_0, rows: 2, columns: 32, bytes: raw)
            }
            #expect(throws: KernelError.self) {
                try WeightMatrix(type: .q8_0, rows: 1, columns: 20, bytes: raw)
            }
            let weight = try WeightMatrix(type: .q8_0, rows: 1, columns: 32, bytes: raw)
            var row = [Float](repeating: 0, count: 32)
            #expect(throws: KernelError.self) {
                try row.withUnsafeMutableBufferPointer {
                    try weight.decodeRow(1, into: $0.baseAddress!)
                }
            }
        }
    }
}
