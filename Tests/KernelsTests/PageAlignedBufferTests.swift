import Foundation
import Inference
import Testing

@testable import Kernels

/// The packed weight copies' memory: counted in the resident set once written, and given
/// back to the system when freed (a worker that unloads a shard shrinks), whatever the heap
/// did before.
struct PageAlignedBufferTests {
    @Test func writtenPagesAreResidentAndFreedPagesAreGivenBack() {
        let size = 64 << 20
        let before = ProcessMetrics.residentBytes()
        var buffer: PageAlignedBuffer? = PageAlignedBuffer(byteCount: size)
        let written = buffer!.bytes
        for offset in stride(from: 0, to: size, by: 4096) { written[offset] = 1 }
        let filled = ProcessMetrics.residentBytes()
        #expect(filled - before >= size - (4 << 20))
        #expect(Int(bitPattern: written) % 64 == 0)
        buffer = nil
        let after = ProcessMetrics.residentBytes()
        #expect(filled - after >= size - (4 << 20))
    }
}
