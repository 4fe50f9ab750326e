/// A read-only hash map from byte strings to token ids that looks keys up straight from a
/// buffer slice, so the tokenizer's inner loops never build `String`s or arrays to ask.
struct ByteStringTable: Sendable {
    private var storage: [UInt8] = []
    private var starts: [Int32] = []  // key i is storage[starts[i] ..< starts[i + 1]]
    private var values: [Int32] = []
    private var slots: [Int32] = []  // index into values, or -1 when empty
    private var mask = 0

    /// Later duplicates of a key replace earlier ones, like llama.cpp's `token_to_id[word] = i`.
    init(keys: [[UInt8]], values: [Int32]) {
        precondition(keys.count == values.count)
        let capacity = max(16, (keys.count * 2).nextPowerOfTwo)
        mask = capacity - 1
        slots = [Int32](repeating: -1, count: capacity)
        starts.reserveCapacity(keys.count + 1)
        starts.append(0)
        for (key, value) in zip(keys, values) {
            let hash = Self.hash(key)
            var slot = hash & mask
            var replaced = false
            while slots[slot] >= 0 {
                let existing = Int(slots[slot])
                if key.elementsEqual(storage[Int(starts[existing])..<Int(starts[existing + 1])]) {
                    self.values[existing] = value
                    replaced = true
                    break
                }
                slot = (slot + 1) & mask
            }
            if replaced { continue }
            slots[slot] = Int32(self.values.count)
            storage.append(contentsOf: key)
            starts.append(Int32(storage.count))
            self.values.append(value)
        }
    }

    var count: Int { values.count }

    func value(for key: UnsafeBufferPointer<UInt8>) -> Int32? {
        var slot = Self.hash(key) & mask
        return storage.withUnsafeBufferPointer { bytes in
            while slots[slot] >= 0 {
                let entry = Int(slots[slot])
                let start = Int(starts[entry])
                let length = Int(starts[entry + 1]) - start
                if length == key.count && (length == 0 || memoryEqual(bytes.baseAddress! + start, key.baseAddress!, length)) {
                    return values[entry]
                }
                slot = (slot + 1) & mask
            }
            return nil
        }
    }

    func value(for key: [UInt8]) -> Int32? {
        key.withUnsafeBufferPointer { value(for: $0) }
    }

    /// FNV-1a: short keys, good enough spread, no allocation.
    private static func hash<C: Collection>(_ bytes: C) -> Int where C.Element == UInt8 {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in bytes {
            hash = (hash ^ UInt64(byte)) &* 0x100_0000_01B3
        }
        return Int(truncatingIfNeeded: hash ^ (hash >> 29))
    }
}

private func memoryEqual(_ a: UnsafePointer<UInt8>, _ b: UnsafePointer<UInt8>, _ count: Int) -> Bool {
    for i in 0..<count where a[i] != b[i] { return false }
    return true
}

extension Int {
    var nextPowerOfTwo: Int {
        self <= 1 ? 1 : 1 << (Int.bitWidth - (self - 1).leadingZeroBitCount)
    }
}
