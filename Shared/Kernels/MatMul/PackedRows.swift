import CKernels
import Foundation
import GGUF
import Synchronization

/// A weight matrix's rows repacked for the AVX-512 VNNI decode kernels (Shared/CKernels/
/// packed_dot.c): four rows interleaved block by block, so one 512-bit load feeds four rows
/// and their scales convert together. The same bytes as the ggml rows, in another order; the
/// results are bit-identical to the row-wise kernels (PackedDotTests).
///
/// A copy of the weights (the ggml bytes stay mapped for everything else, such as embedding
/// lookups), made the first time a matrix is multiplied, so a tied embedding that is only
/// looked up is never copied.
// @unchecked: two raw buffers written once in `init`, then only read.
final class PackedRows: @unchecked Sendable {
    let type: GGMLType
    let rows: Int
    let blocks: Int
    private let quants: PageAlignedBuffer
    private let scales: PageAlignedBuffer

    /// Whether packed kernels run here: AVX-512 VNNI, Q4_1 or Q8_0, native kernels on, and
    /// `TESSERA_PACKED_KERNELS` not 0 (which keeps the row-wise native kernels, to compare).
    static func supports(_ type: GGMLType) -> Bool {
        enabled && tessera_packed_supports(Int32(type.rawValue)) != 0
    }

    private static let enabled: Bool =
        IntegerDotKernels.nativeLevel > 0
        && ProcessInfo.processInfo.environment["TESSERA_PACKED_KERNELS"] != "0"

    init(type: GGMLType, base: UnsafeRawPointer, rowBytes: Int, rows: Int, columns: Int) {
        self.type = type
        self.rows = rows
        blocks = columns / 32
        let id = Int32(type.rawValue)
        let quantBytes = tessera_packed_quant_bytes(id, Int32(rows), Int32(blocks))
        let scaleBytes = tessera_packed_scale_bytes(id, Int32(rows), Int32(blocks))
        quants = PageAlignedBuffer(byteCount: quantBytes)
        scales = PageAlignedBuffer(byteCount: scaleBytes)
        tessera_pack_rows(
            id, base.assumingMemoryBound(to: UInt8.self), rowBytes, Int32(rows), Int32(blocks),
            quants.bytes, scales.bytes)
        Self.releaseResidentPages(base, byteCount: rows * rowBytes)
    }

    /// The multiplier reads only the packed copy from now on (a tied embedding's lookups read
    /// a few rows, faulted back in when touched), so the kernel is asked to reclaim the
    /// original rows' pages: the copy replaces them in memory instead of doubling the
    /// weights' footprint (peak RSS of `tessera bench engine` 231-235 MiB with both kept).
    /// MADV_PAGEOUT is a hint (Linux 5.4+; elsewhere it fails and nothing happens): a file
    /// mapping's clean pages are dropped and re-read from the file if touched again, and heap
    /// memory keeps its contents (swapped out at most). Only whole pages inside the rows.
    private static func releaseResidentPages(_ base: UnsafeRawPointer, byteCount: Int) {
        let page = max(1, sysconf(Int32(_SC_PAGESIZE)))
        let first = (Int(bitPattern: base) + page - 1) / page * page
        let end = (Int(bitPattern: base) + byteCount) / page * page
        guard end > first, let start = UnsafeMutableRawPointer(bitPattern: first) else { return }
        _ = madvise(start, end - first, 21)  // MADV_PAGEOUT (not exported to Swift by Glibc)
    }

    /// output[token * outputStride + row] = row · activations[token] for `rows`; false (and
    /// nothing written) when the kernels could not run (no memory for their scratch), so
    /// the caller takes the row-wise kernels, which give the same bits.
    @discardableResult
    func multiply(
        rows range: Range<Int>, activations: Q8Activations, output: UnsafeMutablePointer<Float>,
        outputStride: Int
    ) -> Bool {
        tessera_packed_dot_rows(
            Int32(type.rawValue), quants.bytes, scales.bytes, Int32(blocks),
            Int32(range.lowerBound),
            Int32(range.upperBound), activations.bytes, activations.scales,
            activations.scaledSums, Int32(activations.tokenCount), output, outputStride) != 0
    }
}

/// Where a WeightMatrix keeps its packed rows once made (shared by copies of the matrix).
final class PackedRowsSlot: Sendable {
    private let packed = Mutex<PackedRows?>(nil)

    /// The packed rows of `matrix`, made on first use; nil when the packed kernels do not
    /// run for its type here.
    func rows(of matrix: WeightMatrix) -> PackedRows? {
        guard PackedRows.supports(matrix.type) else { return nil }
        return packed.withLock { slot in
            if let existing = slot { return existing }
            let made = PackedRows(
                type: matrix.type, base: matrix.base, rowBytes: matrix.rowBytes,
                rows: matrix.rows, columns: matrix.columns)
            slot = made
            return made
        }
    }
}
