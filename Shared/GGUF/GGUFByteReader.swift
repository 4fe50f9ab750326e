/// A bounds-checked little-endian cursor over the bytes of a GGUF file.
/// Every read checks the remaining length first, so a malformed file throws instead of crashing.
struct GGUFByteReader {
    let bytes: UnsafeRawBufferPointer
    private(set) var position: Int = 0

    init(_ bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
    }

    var remaining: Int { bytes.count - position }

    mutating func read<T: FixedWidthInteger>(_: T.Type, _ what: @autoclosure () -> String) throws
        -> T
    {
        let size = MemoryLayout<T>.size
        guard remaining >= size else {
            throw GGUFError.truncated(
                what: what(), offset: position, needed: size, available: remaining)
        }
        let value = bytes.loadUnaligned(fromByteOffset: position, as: T.self)
        position += size
        return T(littleEndian: value)
    }

    /// Reads a u64 count and rejects it unless `count * minimumSize` bytes could still follow.
    mutating func readCount(_ what: @autoclosure () -> String, minimumSize: Int) throws -> Int {
        let raw = try read(UInt64.self, what())
        let limit = UInt64(remaining / max(minimumSize, 1))
        guard raw <= limit else {
            throw GGUFError.absurdCount(what: what(), count: raw, limit: limit)
        }
        return Int(raw)
    }

    mutating func readString(_ what: @autoclosure () -> String) throws -> String {
        let length = try readCount("length of \(what())", minimumSize: 1)
        let slice = UnsafeRawBufferPointer(rebasing: bytes[position..<(position + length)])
        position += length
        // Invalid UTF-8 is repaired with U+FFFD rather than rejected, as the bytes are still usable.
        return String(decoding: slice, as: UTF8.self)
    }
}
