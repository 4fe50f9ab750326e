import Foundation
import Testing

@testable import Kernels

/// The packed weight copies' memory: counted in the resident set once written, and given
/// back to the system when freed (a worker that unloads a shard shrinks), whatever the heap
/// did before.
struct PageAlignedBufferTests {
    @Test func writtenPagesAreResidentAndFreedPagesAreGivenBack() throws {
        let size = 64 << 20
        let before = try Self.residentBytes()
        var buffer: PageAlignedBuffer? = PageAlignedBuffer(byteCount: size)
        let written = buffer!.bytes
        for offset in stride(from: 0, to: size, by: 4096) { written[offset] = 1 }
        let filled = try Self.residentBytes()
        #expect(filled - before >= size - (4 << 20))
        #expect(Int(bitPattern: written) % 64 == 0)
        buffer = nil
        let after = try Self.residentBytes()
        #expect(filled - after >= size - (4 << 20))
    }

    /// `/proc/self/statm`'s resident pages, in bytes.
    static func residentBytes() throws -> Int {
        let fields = try String(contentsOfFile: "/proc/self/statm", encoding: .utf8)
            .split(separator: " ")
        return (Int(fields[1]) ?? 0) * Int(sysconf(Int32(_SC_PAGESIZE)))
    }
}
