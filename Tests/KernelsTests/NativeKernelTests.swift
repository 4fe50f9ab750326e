import CKernels
import GGUF
import Testing

@testable import Kernels

/// The native dot kernels (CKernels: pmaddubsw / vpdpbusd) against the Swift integer kernels
/// on the same 8-bit activations: both sum each block exactly in integers and do the float
/// work in the same order, so they give the same bits (NativeSwiftParityTests checks many
/// more shapes). Both are checked against the scalar reference in MatrixMultiplierTests,
/// through whichever the machine runs.
@Suite struct NativeKernelTests {
    @Test(arguments: [GGMLType.q4_1, .q4_0, .q8_0])
    func nativeKernelsAgreeWithTheSwiftOnes(type: GGMLType) throws {
        guard tessera_dot_level() > 0 else { return }  // not x86 with AVX2: nothing to compare
        let rows = 64
        let columns = 576
        let tokens = 5
        let bytes = try MatrixMultiplierTests.randomMatrix(
            type, rows: rows, columns: columns, seed: 5)
        var generator = SeededGenerator(seed: 9)
        let input = generator.floats(tokens * columns, in: -2...2)
        let activations = Q8Activations(columns: columns, capacity: tokens)
        input.withUnsafeBufferPointer { activations.quantize($0.baseAddress!, tokens: tokens) }
        var swift = [Float](repeating: 0, count: rows * tokens)
        var native = [Float](repeating: 0, count: rows * tokens)
        bytes.withUnsafeBytes { raw in
            let base = raw.baseAddress!
            let rowBytes = raw.count / rows
            swift.withUnsafeMutableBufferPointer { out in
                let output = out.baseAddress!
                switch type {
                case .q4_1:
                    IntegerDotKernels.multiply(
                        Q4_1Format.self, weights: base, rowBytes: rowBytes, rows: 0..<rows,
                        activations: activations, output: output, outputStride: rows)
                case .q4_0:
                    IntegerDotKernels.multiply(
                        Q4_0Format.self, weights: base, rowBytes: rowBytes, rows: 0..<rows,
                        activations: activations, output: output, outputStride: rows)
                default:
                    IntegerDotKernels.multiply(
                        Q8_0Format.self, weights: base, rowBytes: rowBytes, rows: 0..<rows,
                        activations: activations, output: output, outputStride: rows)
                }
            }
            native.withUnsafeMutableBufferPointer { out in
                let ran = tessera_dot_rows(
                    Int32(type.rawValue), base.assumingMemoryBound(to: UInt8.self), rowBytes, 0,
                    Int32(rows), activations.bytes, activations.scales, activations.scaledSums,
                    Int32(activations.blocksPerRow), Int32(tokens), out.baseAddress!, rows)
                #expect(ran == 1)
            }
        }
        for index in swift.indices {
            #expect(swift[index].bitPattern == native[index].bitPattern, "\(type) output \(index)")
        }
        // Unsupported types are declined, not miscomputed.
        #expect(
            tessera_dot_rows(12, nil, 0, 0, 0, nil, nil, nil, 0, 0, nil, 0) == 0)
    }

    /// CKernels' vector quantization against Q8Activations' Swift loop, on random rows and on
    /// blocks made to hit the edges: ties (largest 127, so x.5 values round to even), all
    /// zeros, subnormals (the inverse scale overflows), infinity and NaN (non-finite values
    /// quantize to 0), and magnitudes near Float's largest.
    @Test func nativeQuantizationGivesTheSwiftLoopsBits() {
        guard tessera_dot_level() > 0 else { return }
        let columns = 576
        let tokens = 7
        var generator = SeededGenerator(seed: 21)
        var input = generator.floats(tokens * columns, in: -3...3)
        let ties: [Float] = [127, 2.5, -3.5, 0.5, -0.5, 1.5, 126.5, -126.5, -127, 63.5, -0.0]
        for (offset, value) in ties.enumerated() { input[offset] = value }
        for offset in 32..<64 { input[offset] = 0 }
        for offset in 64..<96 {
            input[offset] = Float(offset - 80) * 1_000 * .leastNonzeroMagnitude
        }
        input[100] = .infinity
        input[130] = .nan
        input[131] = -.infinity
        for offset in 160..<192 { input[offset] = Float(offset - 175) * 2e37 }
        let swift = Q8Activations(columns: columns, capacity: tokens)
        let native = Q8Activations(columns: columns, capacity: tokens)
        input.withUnsafeBufferPointer {
            swift.quantize($0.baseAddress!, tokens: tokens, native: false)
            native.quantize($0.baseAddress!, tokens: tokens, native: true)
        }
        let blocks = tokens * swift.blocksPerRow
        for index in 0..<(blocks * Q8Activations.blockSize) {
            #expect(swift.values[index] == native.values[index], "value \(index)")
            #expect(swift.bytes[index] == native.bytes[index], "byte \(index)")
        }
        for index in 0..<blocks {
            #expect(swift.scales[index].bitPattern == native.scales[index].bitPattern)
            #expect(swift.scaledSums[index].bitPattern == native.scaledSums[index].bitPattern)
        }
        // The ties went to even, as the Swift loop rounds them.
        #expect(Array(UnsafeBufferPointer(start: native.bytes, count: 6)) == [127, 2, -4, 0, 0, 2])
    }
}
