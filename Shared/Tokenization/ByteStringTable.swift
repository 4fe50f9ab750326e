/// A hash map from byte strings to token ids that looks keys up straight from a buffer slice,
/// so the tokenizer's inner loops never build `String`s or arrays to ask. (Swift `String`
/// keys would also pay for Unicode normalisation when hashing non-ASCII token text.)
struct ByteStringTable: Sendable {
    private var storage: [UInt8] = []
    private var starts: [Int32] = [0]  // key i is storage[starts[i] ..< starts[i + 1]]
    private var values: [Int32] = []
    private var slots: [Int32] = []  // index into values, or -1 when empty
    private var mask = 0

    init(minimumCapacity: Int = 16) {
        let capacity = max(16, (minimumCapacity * 2).nextPowerOfTwo)
        mask = capacity - 1
        slots = [Int32](repeating: -1, count: capacity)
    }

    /// Later duplicates of a key replace earlier ones, like llama.cpp's `token_to_id[word] = i`.
    init(keys: [[UInt8]], values: [Int32]) {
        precondition(keys.count == values.count)
        self.init(minimumCapacity: keys.count)
        for (key, value) in zip(keys, values) {
            key.withUnsafeBufferPointer { _ = insert($0, value, replacing: true) }
        }
    }

    var count: Int { values.count }

    /// Inserts `value` for `key` unless present (or replaces it when `replacing`); returns the
    /// value now stored for the key.
    @discardableResult
    mutating func insert(_ key: UnsafeBufferPointer<UInt8>, _ value: Int32, replacing: Bool = false)
        -> Int32
    {
        if let entry = entryIndex(for: key) {
            if replacing { values[entry] = value }
            return values[entry]
        }
        if (values.count + 1) * 2 > slots.count { grow() }
        var slot = Self.hash(key) & mask
        while slots[slot] >= 0 { slot = (slot + 1) & mask }
        slots[slot] = Int32(values.count)
        storage.append(contentsOf: key)
        starts.append(Int32(storage.count))
        values.append(value)
        return value
    }

    func value(for key: UnsafeBufferPointer<UInt8>) -> Int32? {
        entryIndex(for: key).map { values[$0] }
    }

    func value(for key: [UInt8]) -> Int32? {
        key.withUnsafeBufferPointer { value(for: $0) }
    }

    private func entryIndex(for key: UnsafeBufferPointer<UInt8>) -> Int? {
        var slot = Self.hash(key) & mask
        return storage.withUnsafeBufferPointer { bytes in
            while slots[slot] >= 0 {
                let entry = Int(slots[slot])
                let start = Int(starts[entry])
                let length = Int(starts[entry + 1]) - start
                if length == key.count
                    && (length == 0
                        || memoryEqual(bytes.baseAddress! + start, key.baseAddress!, length))
                {
                    return entry
                }
                slot = (slot + 1) & mask
            }
            return nil
        }
    }

    private mutating func grow() {
        let capacity = slots.count * 2
        mask = capacity - 1
        slots = [Int32](repeating: -1, count: capacity)
        storage.withUnsafeBufferPointer { bytes in
            for entry in values.indices {
                let start = Int(starts[entry])
                let key = UnsafeBufferPointer(rebasing: bytes[start..<Int(starts[entry + 1])])
                var slot = Self.hash(key) & mask
                while slots[slot] >= 0 { slot = (slot + 1) & mask }
                slots[slot] = Int32(entry)
            }
        }
    }

    /// FNV-1a: short keys, good enough spread, no allocation.
    private static func hash(_ bytes: UnsafeBufferPointer<UInt8>) -> Int {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in bytes {
            hash = (hash ^ UInt64(byte)) &* 0x100_0000_01B3
        }
        return Int(truncatingIfNeeded: hash ^ (hash >> 29))
    }
}

private func memoryEqual(_ a: UnsafePointer<UInt8>, _ b: UnsafePointer<UInt8>, _ count: Int) -> Bool
{
    for i in 0..<count where a[i] != b[i] { return false }
    return true
}

extension Int {
    var nextPowerOfTwo: Int {
        self <= 1 ? 1 : 1 << (Int.bitWidth - (self - 1).leadingZeroBitCount)
    }
}
