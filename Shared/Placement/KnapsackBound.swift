/// Bound that respects what the relaxed path ignores: each remaining worker is used once and
/// holds a limited number of blocks. Fill the remaining blocks with the cheapest per-block
/// workers not yet used, up to their capacity (greedy is optimal for this fractional
/// problem), then add the fewest stages' overheads and links, the head and the gateway
/// return. Tight when memory forces many stages; blind to which links a pipeline takes.
struct KnapsackBound {
    let tables: CostTables
    /// Per worker: cheapest seconds for one block past layer 0, and the most blocks one
    /// stage past layer 0 can hold. The bound serves only suffixes starting at layer ≥ 1.
    private var perLayerSeconds: [Double]
    private var capacity: [Int]
    private var byPerLayerSeconds: [Int] = []
    private var byCapacity: [Int] = []
    private var minOutgoing: [Double]
    private var minLink = Double.infinity
    private var minOverhead = Double.infinity
    private var minHead = Double.infinity
    private var minEgress = Double.infinity

    init(tables t: CostTables) {
        tables = t
        let count = t.workerCount, layers = t.layerCount
        perLayerSeconds = [Double](repeating: .infinity, count: count)
        capacity = [Int](repeating: 0, count: count)
        minOutgoing = [Double](repeating: .infinity, count: count)
        for w in 0..<count {
            for layer in 1..<max(1, layers) { perLayerSeconds[w] = min(perLayerSeconds[w], t.layerSeconds(w, layer)) }
            for b in 1..<max(1, layers) { capacity[w] = max(capacity[w], t.maxEnd(w, b) - b) }
            minOverhead = min(minOverhead, t.overheadSeconds[w])
            minHead = min(minHead, t.headSeconds(w))
            minEgress = min(minEgress, t.egressSeconds[w])
            for u in 0..<count where u != w {
                minOutgoing[w] = min(minOutgoing[w], t.linkSeconds(w, u))
                minLink = min(minLink, t.linkSeconds(w, u))
            }
        }
        // Workers holding nothing past layer 0 add no blocks; leaving them out keeps the
        // stage count (hence the overhead and link terms) honest.
        let useful = (0..<count).filter { capacity[$0] > 0 }
        byPerLayerSeconds = useful.sorted { (perLayerSeconds[$0], $0) < (perLayerSeconds[$1], $1) }
        byCapacity = useful.sorted { (capacity[$1], $0) < (capacity[$0], $1) }
    }

    /// Bound for finishing layers [e, L) (1 ≤ e < L) after worker `last`, with `used` (which
    /// contains `last`) unavailable. Infinite when the unused workers cannot hold the rest.
    func bound(from e: Int, after last: Int, used: WorkerMask) -> Double {
        let remaining = tables.layerCount - e
        var left = remaining
        var seconds = 0.0
        for w in byPerLayerSeconds where !used.contains(w) {
            let take = min(capacity[w], left)
            seconds += Double(take) * perLayerSeconds[w]
            left -= take
            if left == 0 { break }
        }
        if left > 0 { return .infinity }
        var stages = 0
        var covered = 0
        for w in byCapacity where !used.contains(w) {
            covered += capacity[w]
            stages += 1
            if covered >= remaining { break }
        }
        let laterLinks = stages > 1 ? Double(stages - 1) * minLink : 0
        return seconds + Double(stages) * minOverhead + minOutgoing[last] + laterLinks + minHead + minEgress
    }
}
