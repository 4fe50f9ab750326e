/// A set of byte values, one bit each: a grammar's terminal ("any byte in these ranges").
public struct ByteSet: Hashable, Sendable {
    private var low: UInt64 = 0, lowMid: UInt64 = 0, highMid: UInt64 = 0, high: UInt64 = 0

    public init() {}

    public init(_ ranges: ClosedRange<UInt8>...) {
        for range in ranges { insert(range) }
    }

    public init(bytes: some Sequence<UInt8>) {
        for byte in bytes { insert(byte...byte) }
    }

    public init(characters: String) { self.init(bytes: characters.utf8) }

    public mutating func insert(_ range: ClosedRange<UInt8>) {
        for byte in range {
            let bit = UInt64(1) << UInt64(byte & 63)
            switch byte >> 6 {
            case 0: low |= bit
            case 1: lowMid |= bit
            case 2: highMid |= bit
            default: high |= bit
            }
        }
    }

    @inline(__always)
    public func contains(_ byte: UInt8) -> Bool {
        let word: UInt64 =
            switch byte >> 6 {
            case 0: low
            case 1: lowMid
            case 2: highMid
            default: high
            }
        return word & (UInt64(1) << UInt64(byte & 63)) != 0
    }

    public var isEmpty: Bool { low | lowMid | highMid | high == 0 }
}
