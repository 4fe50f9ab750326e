/// Admissible estimates of what finishing a partial pipeline costs at least. The search
/// prunes a branch when cost so far + bound cannot beat the best pipeline found, so the
/// bounds must never exceed the true remaining cost; two complementary ones are combined:
///
/// * `relaxed`: exact optimum of the problem with worker reuse allowed, a shortest path over
///   (layer boundary, last worker) that sees every link, overhead, memory limit and the head.
///   Tight when the best finish needs few workers, weak when memory forces many.
/// * `knapsack`: respects that each remaining worker is used once and holds a limited number
///   of layers: fill the remaining layers greedily with the cheapest per-layer workers not yet
///   used (optimal for that relaxation), plus the fewest stages' overheads, links, head and
///   gateway return. Tight when memory forces many stages.
struct LowerBounds {
    let tables: CostTables
    /// relaxedTable[e * W + p]: cheapest finish of layers [e, L) after worker p, reuse allowed.
    private var relaxedTable: [Double]
    /// Cheapest complete pipeline with reuse allowed: a bound on the whole problem.
    private(set) var root: Double
    /// Per worker: cheapest seconds for one block past layer 0, and most blocks one stage
    /// past layer 0 can hold. Bounds only serve suffixes starting at layer ≥ 1.
    private var perLayerSeconds: [Double]
    private var capacity: [Int]
    private var byPerLayerSeconds: [Int]
    private var byCapacity: [Int]
    private var minOutgoing: [Double]
    private var minLink = Double.infinity
    private var minOverhead = Double.infinity
    private var minHead = Double.infinity
    private var minEgress = Double.infinity

    init(tables: CostTables) {
        self.tables = tables
        let count = tables.workerCount, layers = tables.layerCount
        relaxedTable = [Double](repeating: .infinity, count: (layers + 1) * count)
        root = .infinity
        perLayerSeconds = [Double](repeating: .infinity, count: count)
        capacity = [Int](repeating: 0, count: count)
        byPerLayerSeconds = []
        byCapacity = []
        minOutgoing = [Double](repeating: .infinity, count: count)
        computeRelaxed()
        computeKnapsackInputs()
    }

    func relaxed(after w: Int, from e: Int) -> Double { relaxedTable[e * tables.workerCount + w] }

    /// Bound for finishing layers [e, L) (e ≥ 1) after worker `last`, with `used` (which
    /// contains `last`) unavailable. Infinite when the unused workers cannot hold the rest.
    func knapsack(from e: Int, after last: Int, used: WorkerMask) -> Double {
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

    /// Both bounds, the larger being the sharper.
    func bound(from e: Int, after last: Int, used: WorkerMask) -> Double {
        if e == tables.layerCount { return 0 }
        let relaxedBound = relaxed(after: last, from: e)
        if relaxedBound == .infinity { return .infinity }
        return max(relaxedBound, knapsack(from: e, after: last, used: used))
    }

    /// Backwards over boundaries. best[u] = cheapest way for u to run [b, f) and then finish;
    /// relaxed(p, b) = min over u ≠ p of link(p, u) + best[u]. O(L²·W + L·W²).
    private mutating func computeRelaxed() {
        let t = tables, count = t.workerCount, layers = t.layerCount
        for p in 0..<count { relaxedTable[layers * count + p] = 0 }
        var best = [Double](repeating: .infinity, count: count)
        for b in stride(from: layers - 1, through: 0, by: -1) {
            for u in 0..<count {
                var cheapest = Double.infinity
                let hi = t.maxEnd(u, b)
                if hi > b {
                    for f in (b + 1)...hi {
                        let tail = f == layers ? t.egressSeconds[u] : relaxedTable[f * count + u]
                        cheapest = min(cheapest, t.computeSeconds(u, b, f) + tail)
                    }
                }
                best[u] = cheapest
            }
            if b == 0 {
                root = (0..<count).map { t.ingressSeconds[$0] + best[$0] }.min() ?? .infinity
            } else {
                for p in 0..<count {
                    var cheapest = Double.infinity
                    for u in 0..<count where u != p { cheapest = min(cheapest, t.linkSeconds(p, u) + best[u]) }
                    relaxedTable[b * count + p] = cheapest
                }
            }
        }
    }

    private mutating func computeKnapsackInputs() {
        let t = tables, count = t.workerCount, layers = t.layerCount
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
        // Workers that hold nothing past layer 0 would add no layers; leaving them out keeps
        // the stage count (hence overhead and link terms) honest.
        let useful = (0..<count).filter { capacity[$0] > 0 }
        byPerLayerSeconds = useful.sorted { (perLayerSeconds[$0], $0) < (perLayerSeconds[$1], $1) }
        byCapacity = useful.sorted { (capacity[$1], $0) < (capacity[$0], $1) }
    }
}
