/// A set of up to 256 dense worker indices, fixed-size so search states hash without
/// allocating.
struct WorkerMask: Hashable {
    static let capacity = 256
    private var w0: UInt64 = 0
    private var w1: UInt64 = 0
    private var w2: UInt64 = 0
    private var w3: UInt64 = 0

    func contains(_ index: Int) -> Bool {
        let bit = UInt64(1) << UInt64(index & 63)
        switch index >> 6 {
        case 0: return w0 & bit != 0
        case 1: return w1 & bit != 0
        case 2: return w2 & bit != 0
        default: return w3 & bit != 0
        }
    }

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
