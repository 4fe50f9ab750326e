import Foundation

/// A short built-in benchmark that a worker runs at start-up, so the scheduler can compare
/// machines by measurement rather than by what they claim. Takes about 100 ms.
public enum HardwareProbe {
    public struct Result: Sendable {
        /// Single-precision fused multiply-add throughput of one thread, in GFLOP/s.
        public var gflopsPerThread: Double
        /// Sequential read bandwidth of one thread over a buffer far larger than the caches, in GB/s.
        public var memoryBandwidthGBps: Double
    }

    public static func measure() -> Result {
        Result(gflopsPerThread: measureFMA(), memoryBandwidthGBps: measureReadBandwidth())
    }

    /// Eight independent SIMD8 FMA chains hide the instruction latency; best of three runs.
    static func measureFMA(iterations: Int = 2_000_000) -> Double {
        var best = 0.0
        for _ in 0..<3 {
            var accumulators = [SIMD8<Float>](repeating: SIMD8(repeating: 1), count: 8)
            let factor = SIMD8<Float>(repeating: 0.999_999)
            let addend = SIMD8<Float>(repeating: 1e-7)
            let start = DispatchTime.now().uptimeNanoseconds
            accumulators.withUnsafeMutableBufferPointer { acc in
                for _ in 0..<iterations {
                    for lane in 0..<8 { acc[lane] = acc[lane].addingProduct(factor, addend) }
                }
            }
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            let sink = accumulators.reduce(SIMD8<Float>()) { $0 + $1 }.sum()
            if sink.isNaN { return 0 }  // keeps the loop alive
            best = max(best, Double(iterations * 8 * 8 * 2) / seconds / 1e9)
        }
        return best
    }

    /// Sums a 64 MiB buffer; best of three passes after one warm-up.
    static func measureReadBandwidth(bytes: Int = 64 << 20) -> Double {
        let count = bytes / MemoryLayout<SIMD16<Float>>.stride
        var buffer = [SIMD16<Float>](repeating: SIMD16(repeating: 1), count: count)
        var best = 0.0
        buffer.withUnsafeMutableBufferPointer { data in
            for pass in 0..<4 {
                let start = DispatchTime.now().uptimeNanoseconds
                var sum = SIMD16<Float>()
                var index = 0
                while index + 4 <= count {
                    sum += data[index] + data[index + 1] + data[index + 2] + data[index + 3]
                    index += 4
                }
                let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
                if sum.sum().isNaN { data[0] = SIMD16() }
                if pass > 0 { best = max(best, Double(bytes) / seconds / 1e9) }
            }
        }
        return best
    }
}
