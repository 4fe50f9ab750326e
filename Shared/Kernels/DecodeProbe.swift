import Foundation
import GGUF

extension HardwareProbe {
    /// Weight bytes per second that a decode step really consumes: the integer Q4_1 kernel
    /// multiplying a matrix larger than the caches by one token, on `threads` threads.
    ///
    /// Neither the FMA rate nor the read bandwidth predicts this: the kernel unpacks
    /// nibbles and converts scales, so on a laptop core it streams ~6 GB/s against 25+ GB/s
    /// of raw bandwidth. Planning with the raw figure made every worker look 4–5× slower
    /// than planned as soon as real step timings arrived. Takes about 40 ms.
    public static func measureDecode(threads: Int, bytes: Int = 16 << 20) -> Double {
        let columns = 2048
        let rowBytes = columns / 32 * 20  // Q4_1: f16 scale, f16 minimum, 16 bytes of nibbles
        let rows = max(1, bytes / rowBytes)
        let weights = UnsafeMutableRawBufferPointer.allocate(
            byteCount: rows * rowBytes, alignment: 64)
        defer { weights.deallocate() }
        fillQ4_1Blocks(weights)
        let input = UnsafeMutablePointer<Float>.allocate(capacity: columns)
        defer { input.deallocate() }
        for index in 0..<columns { input[index] = Float(index % 17) * 0.01 - 0.08 }
        let output = UnsafeMutablePointer<Float>.allocate(capacity: rows)
        defer { output.deallocate() }

        guard
            let matrix = try? WeightMatrix(
                type: .q4_1, rows: rows, columns: columns, bytes: UnsafeRawBufferPointer(weights))
        else { return 0 }
        let multiplier = MatrixMultiplier(pool: ThreadPool(threads: threads))
        var best = 0.0
        for pass in 0..<6 {
            let start = DispatchTime.now().uptimeNanoseconds
            guard
                (try? multiplier.multiply(
                    [MatmulTarget(matrix, output: output)], input: input, tokens: 1)) != nil
            else { return 0 }
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            if pass > 0 && seconds > 0 { best = max(best, Double(rows * rowBytes) / seconds / 1e9) }
        }
        return output[0].isNaN ? 0 : best
    }

    /// Plausible blocks (finite scales), so the timing is that of real weights.
    private static func fillQ4_1Blocks(_ buffer: UnsafeMutableRawBufferPointer) {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        for offset in stride(from: 0, to: buffer.count - 19, by: 20) {
            buffer.storeBytes(
                of: UInt16(0x2C00).littleEndian, toByteOffset: offset, as: UInt16.self)  // 0.0625
            buffer.storeBytes(
                // -0.0625
                of: UInt16(0xAC00).littleEndian, toByteOffset: offset + 2, as: UInt16.self)
            for byte in 4..<20 {
                state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                buffer[offset + byte] = UInt8(truncatingIfNeeded: state >> 56)
            }
        }
    }
}
