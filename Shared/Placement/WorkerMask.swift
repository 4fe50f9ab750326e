/// A set of up to 256 dense worker indices, fixed-size so search states hash without
/// allocating. Inlinable because the bounds test membership millions of times per solve
/// and debug builds do not optimise across files.
struct WorkerMask: Hashable {
    static let capacity = 256
    @usableFromInline var w0: UInt64 = 0
    @usableFromInline var w1: UInt64 = 0
    @usableFromInline var w2: UInt64 = 0
    @usableFromInline var w3: UInt64 = 0

    @inlinable
    func contains(_ index: Int) -> Bool {
        let bit = UInt64(1) << UInt64(index & 63)
        switch index >> 6 {
        case 0: return w0 & bit != 0
        case 1: return w1 & bit != 0
        case 2: return w2 & bit != 0
        default: return w3 & bit != 0
        }
    }

    @inlinable
    func inserting(_ index: Int) -> WorkerMask {
        var copy = self
        let bit = UInt64(1) << UInt64(index & 63)
        switch index >> 6 {
        case 0: copy.w0 |= bit
        case 1: copy.w1 |= bit
        case 2: copy.w2 |= bit
        default: copy.w3 |= bit
        }
        return copy
    }
}
