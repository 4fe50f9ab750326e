import Foundation
import GGUF
import Testing

@testable import Kernels

/// Decode-kernel speed per weight type, one thread, one token, a 2048 × 2048 matrix (in L3):
/// `TESSERA_KERNEL_TIMING=1 swift test --filter WeightTypeTimingTests`. Prints, per type, the
/// row-wise integer path the engine serves with, and the dequantize-then-float-dot fallback
/// (the only path the K-quants had before their integer kernels), and how fast
/// `TensorRows.quantize` makes the type from floats.
@Suite struct WeightTypeTimingTests {
    static let types: [GGMLType] = [
        .q4_1, .q4_0, .q8_0, .q5_0, .q5_1, .q2_K, .q3_K, .q4_K, .q5_K, .q6_K,
    ]

    @Test(.enabled(if: ProcessInfo.processInfo.environment["TESSERA_KERNEL_TIMING"] == "1"))
    func timing() throws {
        let rows = 2048
        let columns = 2048
        var generator = SeededGenerator(seed: 21)
        let floats = generator.floats(rows * columns, in: -1...1)
        let input = generator.floats(columns, in: -2...2)
        let multiplier = MatrixMultiplier(pool: ThreadPool(threads: 1))
        var output = [Float](repeating: 0, count: rows)
        for type in Self.types {
            let clock = ContinuousClock()
            let quantizeStart = clock.now
            let bytes = try TensorRows.quantize(floats, as: type)
            let quantizeTime = clock.now - quantizeStart
            let quantizeSeconds =
                Double(quantizeTime.components.seconds)
                + Double(quantizeTime.components.attoseconds) / 1e18
            try bytes.withUnsafeBytes { raw in
                let weight = try WeightMatrix(type: type, rows: rows, columns: columns, bytes: raw)
                let integer = try Self.best {
                    try output.withUnsafeMutableBufferPointer { out in
                        try multiplier.multiply(
                            [MatmulTarget(weight, output: out.baseAddress!)], input: input,
                            tokens: 1, path: .independentRows)
                    }
                }
                let float = Self.best {
                    input.withUnsafeBufferPointer { inputBuffer in
                        output.withUnsafeMutableBufferPointer { out in
                            FloatDotKernels.multiply(
                                type: type, weights: weight.base, rowBytes: weight.rowBytes,
                                columns: columns, rows: 0..<rows, input: inputBuffer.baseAddress!,
                                tokens: 1, output: out.baseAddress!, outputStride: rows)
                        }
                    }
                }
                print(
                    "weight-type-timing \(type.name): integer "
                        + String(
                            format:
                                "%.0f ns/row %.2f GB/s, float fallback %.0f ns/row, quantizing %.1f M values/s",
                            integer * 1e9 / Double(rows), Double(bytes.count) / integer / 1e9,
                            float * 1e9 / Double(rows), Double(floats.count) / quantizeSeconds / 1e6
                        ))
            }
        }
    }

    /// Best of 7 runs of 5 repetitions, seconds per repetition.
    static func best(_ body: () throws -> Void) rethrows -> Double {
        var best = Double.infinity
        let clock = ContinuousClock()
        for _ in 0..<7 {
            let start = clock.now
            for _ in 0..<5 { try body() }
            let elapsed = clock.now - start
            let seconds =
                Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            best = min(best, seconds / 5)
        }
        return best
    }
}
