import Foundation

/// Memory of its own from the kernel (an anonymous mapping), for the packed weight copies.
/// Not from malloc: a freed copy goes back to the system at once instead of staying in a
/// heap arena, so a worker that unloads a shard gives its memory back, and a new copy is
/// counted in the resident set when written instead of reusing pages a previous model left
/// resident (which made `tessera eval`'s resident column depend on what ran before).
// @unchecked: the pointer is written while packing, then only read.
final class PageAlignedBuffer: @unchecked Sendable {
    let bytes: UnsafeMutablePointer<UInt8>
    private let mappedBytes: Int
    private let mapped: Bool

    init(byteCount: Int) {
        let length = max(byteCount, 64)
        if let region = mmap(
            nil, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
            region != MAP_FAILED
        {
            bytes = region.assumingMemoryBound(to: UInt8.self)
            mapped = true
        } else {
            // No mapping to be had (a limit on mappings): the heap, 64-byte aligned as the
            // kernels' loads want; the same bytes either way.
            bytes = UnsafeMutableRawPointer.allocate(byteCount: length, alignment: 64)
                .assumingMemoryBound(to: UInt8.self)
            mapped = false
        }
        mappedBytes = length
    }

    deinit {
        if mapped {
            munmap(bytes, mappedBytes)
        } else {
            bytes.deallocate()
        }
    }
}
