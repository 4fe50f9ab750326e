import CKernels
import Foundation
import GGUF
import Testing

@testable import Kernels

/// The packed AVX-512 VNNI kernels (Shared/CKernels/packed_dot.c) against the Swift
/// reference kernels, bit for bit: four rows interleaved per group, row ranges that start
/// and end inside a group, row counts that leave the last group short, every token tile
/// (8, 4, 2, 1) and batch sizes 1...17, so a token's bits never depend on its batch.
@Suite struct PackedDotTests {
    static let types: [GGMLType] = [.q4_1, .q8_0]

    @Test(arguments: types)
    func packedRowsGiveTheReferenceBits(type: GGMLType) throws {
        guard tessera_packed_supports(Int32(type.rawValue)) != 0 else {
            print("PackedDotTests: no AVX-512 VNNI on this machine; skipped")
            return
        }
        // Rows not a multiple of 4 (1, 2, 3 left over), odd and even block counts, the model's widths.
        let shapes: [(rows: Int, columns: Int)] = [
            (1, 32), (2, 64), (7, 96), (13, 576), (37, 576), (10, 1536), (5, 2080),
        ]
        var seed: UInt64 = 500
        for (rows, columns) in shapes {
            for rawBytes in [false, true] {
                seed += 1
                let weights = try NativeSwiftParityTests.weights(
                    type, rows: rows, columns: columns, seed: seed, rawBytes: rawBytes)
                for tokens in 1...17 {
                    try check(
                        type, weights, rows: rows, columns: columns, tokens: tokens,
                        seed: seed &* 1000 &+ UInt64(tokens),
                        label: "\(type) \(rows)x\(columns) raw=\(rawBytes) tokens=\(tokens)")
                }
            }
        }
    }

    /// The matrix multiplier (which packs on first use, splits rows across threads in
    /// chunks of whole groups) against the reference, for 1, 5 and 16 tokens on 2 threads.
    @Test(arguments: types)
    func multiplierUsesPackedRowsWithTheSameBits(type: GGMLType) throws {
        let rows = 203
        let columns = 576
        let weights = try NativeSwiftParityTests.weights(
            type, rows: rows, columns: columns, seed: 77, rawBytes: true)
        let rowBytes = try type.byteCount(elements: columns)
        let multiplier = MatrixMultiplier(pool: ThreadPool(threads: 2))
        for tokens in [1, 5, 16] {
            var generator = SeededGenerator(seed: 99 &+ UInt64(tokens))
            let input = generator.floats(tokens * columns, in: -2...2)
            let activations = Q8Activations(columns: columns, capacity: tokens)
            input.withUnsafeBufferPointer { activations.quantize($0.baseAddress!, tokens: tokens) }
            var reference = [Float](repeating: .nan, count: rows * tokens)
            var result = [Float](repeating: .nan, count: rows * tokens)
            try weights.withUnsafeBytes { raw in
                reference.withUnsafeMutableBufferPointer { out in
                    NativeSwiftParityTests.swift(
                        type, raw.baseAddress!, rowBytes: rowBytes, rows: 0..<rows, activations,
                        out.baseAddress!, stride: rows)
                }
                let matrix = try WeightMatrix(
                    type: type, rows: rows, columns: columns, bytes: raw)
                try input.withUnsafeBufferPointer { inputBuffer in
                    try result.withUnsafeMutableBufferPointer { out in
                        try multiplier.multiply(
                            [MatmulTarget(matrix, output: out.baseAddress!)],
                            input: inputBuffer.baseAddress!, tokens: tokens,
                            path: .independentRows)
                    }
                }
            }
            let differing = result.indices.filter {
                result[$0].bitPattern != reference[$0].bitPattern
            }
            #expect(differing.isEmpty, "\(type) tokens=\(tokens): \(differing.count) differ")
        }
    }

    /// Packed against the Swift reference for `tokens` random activation rows, over the whole
    /// matrix and over a row range that starts and ends inside groups.
    func check(
        _ type: GGMLType, _ weights: [UInt8], rows: Int, columns: Int, tokens: Int, seed: UInt64,
        label: String
    ) throws {
        var generator = SeededGenerator(seed: seed)
        var input = [Float]()
        for token in 0..<tokens {
            let magnitude = exp2(Float(token % 5) - 2)
            var row = generator.floats(columns, in: -magnitude...magnitude)
            if token % 3 == 1 {  // an all-zero block: activation scale 0
                let block = token % (columns / 32)
                for index in (block * 32)..<(block * 32 + 32) { row[index] = 0 }
            }
            input += row
        }
        let activations = Q8Activations(columns: columns, capacity: tokens)
        input.withUnsafeBufferPointer { activations.quantize($0.baseAddress!, tokens: tokens) }
        let rowBytes = try type.byteCount(elements: columns)
        let count = rows * tokens
        var reference = [Float](repeating: .nan, count: count)
        weights.withUnsafeBytes { raw in
            reference.withUnsafeMutableBufferPointer { out in
                NativeSwiftParityTests.swift(
                    type, raw.baseAddress!, rowBytes: rowBytes, rows: 0..<rows, activations,
                    out.baseAddress!, stride: rows)
            }
        }
        let packed = weights.withUnsafeBytes { raw in
            PackedRows(
                type: type, base: raw.baseAddress!, rowBytes: rowBytes, rows: rows,
                columns: columns)
        }
        let ranges: [Range<Int>] = [0..<rows, (rows / 3)..<(rows - rows / 4)]
        for range in ranges where !range.isEmpty {
            var result = [Float](repeating: .nan, count: count)
            let ran = result.withUnsafeMutableBufferPointer { out in
                packed.multiply(
                    rows: range, activations: activations, output: out.baseAddress!,
                    outputStride: rows)
            }
            #expect(ran, "\(label): the packed kernels did not run")
            var differing = 0
            var first: Int?
            for token in 0..<tokens {
                for row in 0..<rows {
                    let index = token * rows + row
                    let expected = range.contains(row) ? reference[index] : Float.nan
                    if result[index].bitPattern != expected.bitPattern {
                        differing += 1
                        if first == nil { first = index }
                    }
                }
            }
            if let first {
                Issue.record(
                    "\(label) rows \(range): \(differing) of \(count) outputs differ; output \(first): \(result[first]) against \(reference[first])"
                )
            }
        }
    }
}

/// Packed against row-wise native kernels on model-sized matrices, one thread, in the same
/// run (A, B, A, B; best of each): `TESSERA_KERNEL_TIMING=1 swift test --filter PackedDotTiming`.
/// The small matrix stays in cache (compute); the large one does not (bandwidth).
@Suite struct PackedDotTiming {
    @Test(.enabled(if: ProcessInfo.processInfo.environment["TESSERA_KERNEL_TIMING"] == "1"))
    func timing() throws {
        let shapes: [(type: GGMLType, rows: Int, columns: Int)] = [
            (.q4_1, 1536, 576), (.q4_1, 576, 1536), (.q4_1, 49152, 576), (.q8_0, 1536, 576),
            (.q8_0, 49152, 576),
        ]
        for (type, rows, columns) in shapes {
            guard tessera_packed_supports(Int32(type.rawValue)) != 0 else { return }
            let bytes = try NativeSwiftParityTests.weights(
                type, rows: rows, columns: columns, seed: 3, rawBytes: false)
            let rowBytes = try type.byteCount(elements: columns)
            let packed = bytes.withUnsafeBytes {
                PackedRows(
                    type: type, base: $0.baseAddress!, rowBytes: rowBytes, rows: rows,
                    columns: columns)
            }
            for tokens in [1, 2, 4, 8, 16, 32] {
                var generator = SeededGenerator(seed: 4)
                let input = generator.floats(tokens * columns)
                let activations = Q8Activations(columns: columns, capacity: tokens)
                input.withUnsafeBufferPointer {
                    activations.quantize($0.baseAddress!, tokens: tokens)
                }
                var output = [Float](repeating: 0, count: rows * tokens)
                let repeats = max(3, (rows > 10_000 ? 40 : 400) / tokens)
                var best = [Double](repeating: 1e9, count: 2)
                bytes.withUnsafeBytes { raw in
                    output.withUnsafeMutableBufferPointer { out in
                        for round in 0..<10 {
                            let variant = round % 2
                            let start = DispatchTime.now().uptimeNanoseconds
                            for _ in 0..<repeats {
                                if variant == 0 {
                                    _ = tessera_dot_rows(
                                        Int32(type.rawValue),
                                        raw.baseAddress!.assumingMemoryBound(to: UInt8.self),
                                        rowBytes, 0, Int32(rows), activations.bytes,
                                        activations.scales, activations.scaledSums,
                                        Int32(activations.blocksPerRow), Int32(tokens),
                                        out.baseAddress!, rows)
                                } else {
                                    packed.multiply(
                                        rows: 0..<rows, activations: activations,
                                        output: out.baseAddress!, outputStride: rows)
                                }
                            }
                            let nanoseconds = Double(
                                DispatchTime.now().uptimeNanoseconds - start)
                            best[variant] = min(best[variant], nanoseconds / Double(repeats))
                        }
                    }
                }
                let perRowToken = best.map { $0 / Double(rows * tokens) }
                print(
                    "packed-timing \(type) \(rows)x\(columns) tokens \(tokens): "
                        + String(
                            format:
                                "row-wise %.2f ns/row·token (%.1f GB/s), packed %.2f (%.1f GB/s), %.2fx",
                            perRowToken[0], Double(bytes.count) / best[0],
                            perRowToken[1], Double(bytes.count) / best[1],
                            best[0] / best[1]))
            }
        }
    }
}

/// One decode step's matrix products of the default model (SmolLM2-135M: 30 layers of Q4_1
/// 576×576 Q and O, 192×576 K and V, 1536×576 gate and up, 576×1536 down, and the
/// 49152×576 Q8_0 output head: 96.4 MB, far more than the caches), one token, packed
/// against row-wise native kernels alternating step by step, on 1 and 2 threads; medians.
/// `TESSERA_KERNEL_TIMING=1 swift test --filter PackedDotStepTiming`.
@Suite struct PackedDotStepTiming {
    struct Matrix {
        let type: GGMLType
        let rows: Int
        let columns: Int
        let bytes: UnsafeMutableRawPointer
        let packed: PackedRows
    }

    @Test(.enabled(if: ProcessInfo.processInfo.environment["TESSERA_KERNEL_TIMING"] == "1"))
    func decodeStepTiming() throws {
        guard tessera_packed_supports(3) != 0 else { return }
        var shapes: [(GGMLType, Int, Int)] = []
        for _ in 0..<30 {
            shapes += [
                (.q4_1, 576, 576), (.q4_1, 192, 576), (.q4_1, 192, 576), (.q4_1, 576, 576),
                (.q4_1, 1536, 576), (.q4_1, 1536, 576), (.q4_1, 576, 1536),
            ]
        }
        shapes.append((.q8_0, 49152, 576))
        var matrices: [Matrix] = []
        var totalBytes = 0
        for (index, (type, rows, columns)) in shapes.enumerated() {
            let data = try NativeSwiftParityTests.weights(
                type, rows: rows, columns: columns, seed: UInt64(index), rawBytes: false)
            let bytes = UnsafeMutableRawPointer.allocate(byteCount: data.count, alignment: 64)
            data.withUnsafeBytes { bytes.copyMemory(from: $0.baseAddress!, byteCount: data.count) }
            let rowBytes = try type.byteCount(elements: columns)
            let packed = PackedRows(
                type: type, base: bytes, rowBytes: rowBytes, rows: rows, columns: columns)
            matrices.append(
                Matrix(type: type, rows: rows, columns: columns, bytes: bytes, packed: packed))
            totalBytes += data.count
        }
        defer { for matrix in matrices { matrix.bytes.deallocate() } }
        var activations: [Int: Q8Activations] = [:]
        for columns in [576, 1536] {
            var generator = SeededGenerator(seed: UInt64(columns))
            let input = generator.floats(columns)
            let buffer = Q8Activations(columns: columns, capacity: 1)
            input.withUnsafeBufferPointer { buffer.quantize($0.baseAddress!, tokens: 1) }
            activations[columns] = buffer
        }
        let output = UnsafeMutablePointer<Float>.allocate(capacity: 49152)
        defer { output.deallocate() }
        for threads in [1, 2] {
            let pool = ThreadPool(threads: threads)
            var times: [[Double]] = [[], []]
            for step in 0..<40 {
                let packed = step % 2 == 1
                let start = DispatchTime.now().uptimeNanoseconds
                for matrix in matrices {
                    let buffer = activations[matrix.columns]!
                    pool.run { worker in
                        // Halves on two threads, in whole groups of four rows.
                        let half = (matrix.rows / threads + 3) / 4 * 4
                        let rows = (worker * half)..<min(matrix.rows, (worker + 1) * half)
                        if packed {
                            matrix.packed.multiply(
                                rows: rows, activations: buffer, output: output,
                                outputStride: matrix.rows)
                        } else {
                            IntegerDotKernels.multiply(
                                type: matrix.type, weights: matrix.bytes,
                                rowBytes: try! matrix.type.byteCount(elements: matrix.columns),
                                rows: rows, activations: buffer, output: output,
                                outputStride: matrix.rows)
                        }
                    }
                }
                let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
                if step >= 4 { times[packed ? 1 : 0].append(elapsed) }
            }
            let medians = times.map { $0.sorted()[$0.count / 2] }
            print(
                "step-timing threads \(threads): "
                    + String(
                        format:
                            "row-wise %.2f ms (%.1f GB/s), packed %.2f ms (%.1f GB/s), %.2fx; %.1f MB",
                        medians[0], Double(totalBytes) / medians[0] / 1e6, medians[1],
                        Double(totalBytes) / medians[1] / 1e6, medians[0] / medians[1],
                        Double(totalBytes) / 1e6))
        }
    }
}
