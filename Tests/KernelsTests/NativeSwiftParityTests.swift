import CKernels
import Foundation
import GGUF
import Testing

@testable import Kernels

/// The Swift integer dot kernels against the native ones (CKernels), bit for bit: a replay
/// on a machine without AVX2 (or with `TESSERA_NATIVE_KERNELS=0`) must compute the bits an
/// AVX2 or VNNI worker computed. Both sum each block exactly in integers and then do the same
/// float operations in the same order; any token count per call, so batch invariance holds
/// across the two as well.
@Suite struct NativeSwiftParityTests {
    static let types: [GGMLType] = [.q4_1, .q4_0, .q8_0, .q5_0, .q5_1]

    /// Rows × columns of `type`: quantized random floats, or (`rawBytes`) random bytes with
    /// random finite half-precision scales (every quant value, Q8_0's -128 included).
    static func weights(_ type: GGMLType, rows: Int, columns: Int, seed: UInt64, rawBytes: Bool)
        throws -> [UInt8]
    {
        var generator = SeededGenerator(seed: seed)
        guard rawBytes else {
            return try TensorRows.quantize(type, generator.floats(rows * columns, in: -3...3))
        }
        let blockBytes = type.blockBytes
        var bytes = (0..<(rows * columns / 32 * blockBytes)).map { _ in
            UInt8.random(in: 0...255, using: &generator)
        }
        // d (and Q4_1's m) of both signs from a wide range of magnitudes, subnormal halves too.
        let halves = type == .q4_1 || type == .q5_1 ? [0, 2] : [0]
        for block in stride(from: 0, to: bytes.count, by: blockBytes) {
            for offset in halves {
                let magnitude = Float.random(in: -20...2, using: &generator)
                let sign: Float = Bool.random(using: &generator) ? 1 : -1
                let bits = Float16(sign * exp2(magnitude)).bitPattern
                bytes[block + offset] = UInt8(bits & 0xFF)
                bytes[block + offset + 1] = UInt8(bits >> 8)
            }
        }
        return bytes
    }

    /// The Swift kernels, called directly (generic over the format).
    static func swift(
        _ type: GGMLType, _ base: UnsafeRawPointer, rowBytes: Int, rows: Range<Int>,
        _ activations: Q8Activations, _ output: UnsafeMutablePointer<Float>, stride: Int
    ) {
        switch type {
        case .q4_1:
            IntegerDotKernels.multiply(
                Q4_1Format.self, weights: base, rowBytes: rowBytes, rows: rows,
                activations: activations, output: output, outputStride: stride)
        case .q4_0:
            IntegerDotKernels.multiply(
                Q4_0Format.self, weights: base, rowBytes: rowBytes, rows: rows,
                activations: activations, output: output, outputStride: stride)
        case .q5_0:
            IntegerDotKernels.multiply(
                Q5_0Format.self, weights: base, rowBytes: rowBytes, rows: rows,
                activations: activations, output: output, outputStride: stride)
        case .q5_1:
            IntegerDotKernels.multiply(
                Q5_1Format.self, weights: base, rowBytes: rowBytes, rows: rows,
                activations: activations, output: output, outputStride: stride)
        default:
            IntegerDotKernels.multiply(
                Q8_0Format.self, weights: base, rowBytes: rowBytes, rows: rows,
                activations: activations, output: output, outputStride: stride)
        }
    }

    @Test(arguments: types)
    func swiftKernelsGiveTheNativeBits(type: GGMLType) throws {
        guard tessera_dot_level() > 0 else {
            print("NativeSwiftParityTests: no native dot kernels on this machine; skipped")
            return
        }
        // Odd and even block counts (the model's 576 and 1536 among them), rows not a multiple of 4.
        let shapes: [(rows: Int, columns: Int)] = [
            (7, 32), (13, 64), (5, 96), (37, 576), (11, 1536), (3, 2080),
        ]
        var seed: UInt64 = 1
        // Wide rows and 17 tokens: the scales regrouped for the tile kernels outgrow dot.c's
        // stack buffer and go to the heap.
        let wide = try Self.weights(type, rows: 3, columns: 8192, seed: 99, rawBytes: false)
        try check(
            type, wide, rows: 3, columns: 8192, tokens: 17, seed: 991,
            label: "\(type) 3x8192 tokens=17")
        for (rows, columns) in shapes {
            for rawBytes in [false, true] {
                seed += 1
                let weights = try Self.weights(
                    type, rows: rows, columns: columns, seed: seed, rawBytes: rawBytes)
                // Every tile width (2...8), groups of eight with every remainder, a batch of 16.
                for tokens in Array(1...11) + [15, 16, 17] {
                    try check(
                        type, weights, rows: rows, columns: columns, tokens: tokens,
                        seed: seed &* 1000 &+ UInt64(tokens),
                        label: "\(type) \(rows)x\(columns) raw=\(rawBytes) tokens=\(tokens)")
                }
            }
        }
    }

    /// Swift against native for `tokens` random activation rows, bit for bit.
    func check(
        _ type: GGMLType, _ weights: [UInt8], rows: Int, columns: Int, tokens: Int, seed: UInt64,
        label: String
    ) throws {
        var generator = SeededGenerator(seed: seed)
        // Activations of varied magnitude per token, and an all-zero block (scale 0) in odd ones.
        var input = [Float]()
        for token in 0..<tokens {
            let magnitude = exp2(Float(token % 5) - 2)
            var row = generator.floats(columns, in: -magnitude...magnitude)
            if token % 2 == 1 {
                let block = token % (columns / 32)
                for index in (block * 32)..<(block * 32 + 32) { row[index] = 0 }
            }
            input += row
        }
        let activations = Q8Activations(columns: columns, capacity: tokens)
        input.withUnsafeBufferPointer { activations.quantize($0.baseAddress!, tokens: tokens) }
        let count = rows * tokens
        var swift = [Float](repeating: .nan, count: count)
        var native = [Float](repeating: .nan, count: count)
        var entry = [Float](repeating: .nan, count: count)
        let rowBytes = try type.byteCount(elements: columns)
        weights.withUnsafeBytes { raw in
            let base = raw.baseAddress!
            swift.withUnsafeMutableBufferPointer { out in
                Self.swift(
                    type, base, rowBytes: rowBytes, rows: 0..<rows, activations, out.baseAddress!,
                    stride: rows)
            }
            native.withUnsafeMutableBufferPointer { out in
                let ran = tessera_dot_rows(
                    Int32(type.rawValue), base.assumingMemoryBound(to: UInt8.self), rowBytes, 0,
                    Int32(rows), activations.bytes, activations.scales, activations.scaledSums,
                    Int32(activations.blocksPerRow), Int32(tokens), out.baseAddress!, rows)
                #expect(ran == 1)
            }
            // The production entry point: the specialized Swift kernels when this process
            // runs with TESSERA_NATIVE_KERNELS=0, the native ones otherwise.
            entry.withUnsafeMutableBufferPointer { out in
                IntegerDotKernels.multiply(
                    type: type, weights: base, rowBytes: rowBytes, rows: 0..<rows,
                    activations: activations, output: out.baseAddress!, outputStride: rows)
            }
        }
        for (name, result) in [("swift", swift), ("entry point", entry)] {
            let differing = result.indices.filter { result[$0].bitPattern != native[$0].bitPattern }
            if let first = differing.first {
                let message =
                    "\(label), \(name): \(differing.count) of \(count) outputs differ; output "
                    + "\(first): \(result[first]) against native \(native[first])"
                Issue.record("\(message)")
            }
        }
    }

    /// A quick timing of the kernels behind the production entry point (the Swift ones under
    /// TESSERA_NATIVE_KERNELS=0), one thread, a model-sized matrix that stays in cache:
    /// `TESSERA_KERNEL_TIMING=1 swift test --filter NativeSwiftParityTests`.
    @Test(.enabled(if: ProcessInfo.processInfo.environment["TESSERA_KERNEL_TIMING"] == "1"))
    func timing() throws {
        let rows = 1536
        let columns = 576
        for type in Self.types {
            let bytes = try Self.weights(
                type, rows: rows, columns: columns, seed: 3, rawBytes: false)
            let rowBytes = try type.byteCount(elements: columns)
            for tokens in [1, 4, 8] {
                var generator = SeededGenerator(seed: 4)
                let input = generator.floats(tokens * columns)
                let activations = Q8Activations(columns: columns, capacity: tokens)
                input.withUnsafeBufferPointer {
                    activations.quantize($0.baseAddress!, tokens: tokens)
                }
                var output = [Float](repeating: 0, count: rows * tokens)
                let repeats = max(20, 200 / tokens)
                var best = Duration.seconds(1000)
                bytes.withUnsafeBytes { raw in
                    output.withUnsafeMutableBufferPointer { out in
                        for _ in 0..<5 {
                            let clock = ContinuousClock()
                            let start = clock.now
                            for _ in 0..<repeats {
                                IntegerDotKernels.multiply(
                                    type: type, weights: raw.baseAddress!, rowBytes: rowBytes,
                                    rows: 0..<rows, activations: activations,
                                    output: out.baseAddress!, outputStride: rows)
                            }
                            best = min(best, (clock.now - start) / repeats)
                        }
                    }
                }
                let seconds =
                    Double(best.components.attoseconds) / 1e18 + Double(best.components.seconds)
                let nanosecondsPerRowToken = seconds * 1e9 / Double(rows * tokens)
                print(
                    "kernel-timing level \(IntegerDotKernels.nativeLevel) \(type) tokens \(tokens): "
                        + String(
                            format: "%.1f ns per row·token, %.2f GB/s of weights",
                            nanosecondsPerRowToken, Double(bytes.count) / seconds / 1e9))
            }
        }
    }
}
