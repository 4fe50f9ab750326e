import Cluster

// Layer ranges on the wire are `[first, last)`; both zero means "not given".
extension Tessera_V1_LayerRange {
    public init(_ range: Range<Int>) {
        self.init()
        first = UInt32(clamping: range.lowerBound)
        last = UInt32(clamping: range.upperBound)
    }

    /// The range, or nil when the sender left it unset (0, 0). A reversed pair is empty.
    public var range: Range<Int>? {
        guard first != 0 || last != 0 else { return nil }
        return Int(first)..<Int(max(first, last))
    }
}
