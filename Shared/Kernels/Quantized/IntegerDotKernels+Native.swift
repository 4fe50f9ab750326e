import CKernels
import Foundation
import GGUF

// Which dot kernels run: the native ones (CKernels) where the CPU has them, else the Swift
// ones. Kept apart from the Swift kernels: nothing here is generic or runs per block, so it
// loses nothing in debug builds' file-by-file compilation.

extension IntegerDotKernels {
    /// Whether the native kernels (CKernels: pmaddubsw / vpdpbusd) run on this machine;
    /// `TESSERA_NATIVE_KERNELS=0` turns them off (to compare, or to rule them out).
    static let nativeLevel: Int =
        ProcessInfo.processInfo.environment["TESSERA_NATIVE_KERNELS"] == "0"
        ? 0 : Int(tessera_dot_level())

    /// The native kernels' rows × activations; false when they do not run here (then the
    /// Swift kernels of IntegerDotKernels.swift do the work). Which one runs is fixed per
    /// process, so a token's result never depends on the batch it is in.
    static func native(
        type: GGMLType, weights: UnsafeRawPointer, rowBytes: Int, rows: Range<Int>,
        activations: Q8Activations, output: UnsafeMutablePointer<Float>, outputStride: Int
    ) -> Bool {
        guard nativeLevel > 0 else { return false }
        return tessera_dot_rows(
            Int32(type.rawValue), weights.assumingMemoryBound(to: UInt8.self), rowBytes,
            Int32(rows.lowerBound), Int32(rows.upperBound), activations.bytes,
            activations.scales, activations.scaledSums, Int32(activations.blocksPerRow),
            Int32(activations.tokenCount), output, outputStride) != 0
    }
}
