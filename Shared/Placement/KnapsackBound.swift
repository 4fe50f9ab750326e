/// Bound that respects what the relaxed path ignores: each remaining worker is used once and
/// holds a limited number of blocks. Fill the remaining blocks with the cheapest per-block
/// workers not yet used, up to their capacity (greedy is optimal for this fractional
/// problem), then add the fewest stages' overheads and links, the head and the gateway
/// return. Tight when memory forces many stages. Links enter only as the cheapest hop, plus,
/// when workers sit in sites, the crossings a finish needs to reach enough capacity.
/// A class: the search consults it per candidate stage, and a struct of a dozen arrays
/// would be copied (retained and released) on every call.
final class KnapsackBound {
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
    /// Site groups (see `siteAware`); disabled (crossExtra 0) when there are too many.
    private let siteOf: [Int]
    private var groupCount = 1
    private var crossExtra = 0.0
    private var allGroups = UInt32.max
    static let maxSiteGroups = 6
    private var fast: FastTables!
    /// For each home group, the sets of groups that contain it, fewest groups first.
    private var siteSets: [[UInt32]] = []

    init(tables t: CostTables) {
        tables = t
        let count = t.workerCount
        let layers = t.layerCount
        perLayerSeconds = [Double](repeating: .infinity, count: count)
        capacity = [Int](repeating: 0, count: count)
        minOutgoing = [Double](repeating: .infinity, count: count)
        siteOf =
            t.siteGroupCount <= Self.maxSiteGroups ? t.siteGroup : [Int](repeating: 0, count: count)
        for w in 0..<count {
            for layer in 1..<max(1, layers) {
                perLayerSeconds[w] = min(perLayerSeconds[w], t.layerSeconds(w, layer))
            }
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

        groupCount = (siteOf.max() ?? 0) + 1
        var crossMin = Double.infinity
        for a in 0..<count {
            for b in 0..<count where siteOf[a] != siteOf[b] {
                crossMin = min(crossMin, t.linkSeconds(a, b))
            }
        }
        if groupCount > 1 && crossMin.isFinite && crossMin > minLink {
            crossExtra = crossMin - minLink
        }
        siteSets = (0..<groupCount).map { home in
            (UInt32(0)..<(UInt32(1) << UInt32(groupCount))).filter { $0 & (1 << UInt32(home)) != 0 }
                .sorted { ($0.nonzeroBitCount, $0) < ($1.nonzeroBitCount, $1) }
        }
        fast = FastTables(
            costOrder: byPerLayerSeconds, roomOrder: byCapacity, perLayer: perLayerSeconds,
            capacity: capacity,
            groupBit: siteOf.map { UInt32(1) << UInt32($0) })
    }

    /// Bound for finishing layers [e, L) (1 ≤ e < L) after worker `last`, with `used` (which
    /// contains `last`) unavailable. Infinite when the unused workers cannot hold the rest.
    /// A caller that only cares whether the bound reaches `enough` gets an answer that may
    /// stop short of the site refinement once the plain fill already reaches it.
    func bound(from e: Int, after last: Int, used: WorkerMask, enough: Double = .infinity) -> Double
    {
        let remaining = tables.layerCount - e
        guard let all = fill(remaining, used: used, groups: allGroups) else { return .infinity }
        let laterLinks = all.stages > 1 ? Double(all.stages - 1) * minLink : 0
        let plain =
            all.seconds + Double(all.stages) * minOverhead + minOutgoing[last] + laterLinks
            + minHead + minEgress
        if crossExtra <= 0 || plain >= enough { return plain }
        let floor = all.seconds + Double(all.stages) * (minOverhead + minLink)
        return max(
            plain, siteAware(remaining, after: last, used: used, floor: floor) + minHead + minEgress
        )
    }

    /// The same fill, but knowing sites: a finish that brings in workers from m other sites
    /// crosses between sites at least m times, each crossing costing `crossExtra` more than
    /// the cheapest link. Minimised over which other sites to bring in; valid for any
    /// grouping, because `crossExtra` is measured on the actual links between groups.
    private func siteAware(_ remaining: Int, after last: Int, used: WorkerMask, floor: Double)
        -> Double
    {
        var best = Double.infinity
        // Site sets with fewer sites first; a set's fill can't beat the all-sites fill
        // (`floor`), so once that plus the set's crossings reaches the best, skip it.
        for groups in siteSets[siteOf[last]] {
            let extra = Double(groups.nonzeroBitCount - 1) * crossExtra
            if floor + extra >= best { continue }
            guard let part = fill(remaining, used: used, groups: groups) else { continue }
            best = min(best, part.seconds + Double(part.stages) * (minOverhead + minLink) + extra)
        }
        return best
    }

    /// Cheapest per-block fill of `remaining` blocks by unused workers of the given groups,
    /// and the fewest such workers that can hold them; nil if they cannot.
    private func fill(_ remaining: Int, used: WorkerMask, groups: UInt32) -> (
        seconds: Double, stages: Int
    )? {
        let count = byPerLayerSeconds.count
        var left = remaining
        var seconds = 0.0
        for i in 0..<count {
            let w = fast.costOrder[i]
            if used.has(w) || groups & fast.groupBit[w] == 0 { continue }
            let take = min(fast.capacity[w], left)
            seconds += Double(take) * fast.perLayer[w]
            left -= take
            if left == 0 { break }
        }
        if left > 0 { return nil }
        var stages = 0
        var covered = 0
        for i in 0..<count {
            let w = fast.roomOrder[i]
            if used.has(w) || groups & fast.groupBit[w] == 0 { continue }
            covered += fast.capacity[w]
            stages += 1
            if covered >= remaining { break }
        }
        return (seconds, stages)
    }

    deinit { fast.deallocate() }

    /// Copies of the arrays `fill` walks, as raw buffers: the fill runs for most candidate
    /// stages and is the search's hottest loop, so it skips bounds checks and reference
    /// counting. Sized and filled once in init.
    struct FastTables {
        let costOrder: UnsafeMutableBufferPointer<Int>
        let roomOrder: UnsafeMutableBufferPointer<Int>
        let perLayer: UnsafeMutableBufferPointer<Double>
        let capacity: UnsafeMutableBufferPointer<Int>
        let groupBit: UnsafeMutableBufferPointer<UInt32>

        init(
            costOrder: [Int], roomOrder: [Int], perLayer: [Double], capacity: [Int],
            groupBit: [UInt32]
        ) {
            func copy<T>(_ array: [T]) -> UnsafeMutableBufferPointer<T> {
                let buffer = UnsafeMutableBufferPointer<T>.allocate(capacity: max(1, array.count))
                _ = buffer.initialize(from: array)
                return buffer
            }
            self.costOrder = copy(costOrder)
            self.roomOrder = copy(roomOrder)
            self.perLayer = copy(perLayer)
            self.capacity = copy(capacity)
            self.groupBit = copy(groupBit)
        }

        func deallocate() {
            costOrder.deallocate()
            roomOrder.deallocate()
            perLayer.deallocate()
            capacity.deallocate()
            groupBit.deallocate()
        }
    }
}

extension WorkerMask {
    /// `contains`, visible to the optimiser in this file (debug builds do not inline across files).
    @inline(__always)
    fileprivate func has(_ index: Int) -> Bool {
        let bit = UInt64(1) << UInt64(index & 63)
        switch index >> 6 {
        case 0: return w0 & bit != 0
        case 1: return w1 & bit != 0
        case 2: return w2 & bit != 0
        default: return w3 & bit != 0
        }
    }
}
