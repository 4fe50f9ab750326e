/// A pipeline as dense worker indices and the end boundary of each one's range.
struct PipelineSolution {
    var workers: [Int]
    var ends: [Int]
    var seconds: Double
    /// With a quality budget: the form each stage runs (0 the reference, else a variant of
    /// `VariantTables`); empty means every stage runs the reference.
    var forms: [Int] = []
}

/// What `PipelineSolver` runs: the plain search, or the one that also picks variants.
protocol PipelineSearching: AnyObject {
    func run() -> PipelineSolution?
    var nodes: Int { get }
    var exhausted: Bool { get }
}

/// Exact depth-first branch and bound for the fastest single pipeline.
///
/// A node is a partial pipeline: layers [0, b) placed, `last` the worker holding the range
/// ending at b, `used` the workers taken. Its children extend it by one stage: an unused
/// worker w and an end e with [b, e) fitting w's memory. Children are tried cheapest bound
/// first, so a good pipeline is found at once and later branches are cut when their cost so
/// far plus an admissible bound (`LowerBounds`) cannot beat it. Two more prunings keep it
/// exact: interchangeable workers are used in id order only, and a state (b, last, used)
/// reached again no cheaper than before is dropped, since its finishes were already tried.
final class PipelineSearch: PipelineSearching {
    private let tables: CostTables
    private let bounds: LowerBounds
    private let predecessor: [Int]
    private let nodeBudget: Int
    /// Only pipelines at most this slow are wanted (a replica's latency limit).
    private let cutoff: Double

    private struct StateKey: Hashable {
        var boundary: Int32
        var last: Int32
        var used: WorkerMask
    }
    private struct Child {
        var bound: Double
        var step: Double
        var worker: Int
        var end: Int
    }

    private var seen: [StateKey: Double] = [:]
    private var spareBuffers: [[Child]] = []
    private let seenLimit = 1 << 20
    private var used = WorkerMask()
    private var usedPenalty = 0.0
    private var pathWorkers: [Int] = []
    private var pathEnds: [Int] = []
    private var best: PipelineSolution?
    private(set) var nodes = 0
    /// True when the node budget ran out; the best pipeline found is then not proven optimal.
    private(set) var exhausted = false

    init(
        tables: CostTables, bounds: LowerBounds, predecessor: [Int], nodeBudget: Int,
        cutoff: Double = .infinity,
        incumbent: PipelineSolution? = nil
    ) {
        self.tables = tables
        self.bounds = bounds
        self.predecessor = predecessor
        self.nodeBudget = nodeBudget
        self.cutoff = cutoff * (1 + 1e-12)
        self.best = incumbent
    }

    /// The fastest pipeline no slower than the cutoff (or the incumbent given), or nil when
    /// there is none or none was found within budget.
    func run() -> PipelineSolution? {
        if bounds.root < limit { expand(boundary: 0, last: -1, costSoFar: 0) }
        return best
    }

    /// Pipelines must beat the incumbent by a relative 1e-12: float noise never replaces a
    /// pipeline found earlier (in the deterministic order) by an equally fast one.
    private var limit: Double {
        guard let best else { return cutoff }
        return best.seconds * (1 - 1e-12)
    }

    private func expand(boundary b: Int, last: Int, costSoFar: Double) {
        if b > 0 && !isNewOrCheaper(boundary: b, last: last, cost: costSoFar) { return }
        if nodes >= nodeBudget {
            exhausted = true
            return
        }
        nodes += 1

        // Child lists are recycled: one buffer per depth lives in `spareBuffers` between uses.
        var children = spareBuffers.popLast() ?? []
        children.removeAll(keepingCapacity: true)
        makeChildren(boundary: b, last: last, costSoFar: costSoFar, into: &children)
        defer { spareBuffers.append(children) }
        for child in children {
            if exhausted || child.bound >= limit { return }
            let cost = costSoFar + child.step
            if child.end == tables.layerCount {
                best = PipelineSolution(
                    workers: pathWorkers + [child.worker], ends: pathEnds + [child.end],
                    seconds: cost)
                continue
            }
            let savedUsed = used
            let savedPenalty = usedPenalty
            used = used.inserting(child.worker)
            usedPenalty += bounds.penalty(child.worker)
            pathWorkers.append(child.worker)
            pathEnds.append(child.end)
            expand(boundary: child.end, last: child.worker, costSoFar: cost)
            pathWorkers.removeLast()
            pathEnds.removeLast()
            used = savedUsed
            usedPenalty = savedPenalty
        }
    }

    /// Records the state's cost; false when it was reached before at no greater cost.
    private func isNewOrCheaper(boundary: Int, last: Int, cost: Double) -> Bool {
        let key = StateKey(boundary: Int32(boundary), last: Int32(last), used: used)
        if let previous = seen[key] {
            if cost >= previous * (1 - 1e-12) { return false }
            seen[key] = cost
        } else if seen.count < seenLimit {
            seen[key] = cost
        }
        return true
    }

    /// Every admissible next stage whose bound can still beat the incumbent, best first;
    /// ties go to the lower worker id, then the longer range.
    private func makeChildren(
        boundary b: Int, last: Int, costSoFar: Double, into children: inout [Child]
    ) {
        let t = tables
        let cutoff = limit
        let layers = t.layerCount
        for w in 0..<t.workerCount where !used.contains(w) {
            let previous = predecessor[w]
            if previous >= 0 && !used.contains(previous) { continue }
            let hi = t.maxEnd(w, b)
            if hi <= b { continue }
            let entry = b == 0 ? t.ingressSeconds[w] : t.linkSeconds(last, w)
            let penaltyAfter = usedPenalty + bounds.penalty(w)
            // Whole worker first: its best relaxed stage-plus-finish already too slow?
            let best = bounds.relaxed.startBound(
                worker: w, boundary: b, previous: last, usedPenalty: penaltyAfter)
            if costSoFar + entry + best >= cutoff { continue }
            let usedAfter = used.inserting(w)
            for e in (b + 1)...hi {
                var step = entry + t.stageSeconds(w, b, e)
                if e == layers { step += t.egressSeconds[w] }
                let reached = costSoFar + step
                if reached >= cutoff { break }  // stage cost only grows with e
                // The cheap path bound first; the knapsack only for children it lets through.
                var bound =
                    reached
                    + bounds.relaxed.bound(
                        from: e, after: w, beforeLast: last, usedPenalty: penaltyAfter)
                if bound >= cutoff { continue }
                if e < layers {
                    let rest = bounds.knapsack.bound(
                        from: e, after: w, used: usedAfter, enough: cutoff - reached)
                    bound = max(bound, reached + rest)
                }
                if bound < cutoff {
                    children.append(Child(bound: bound, step: step, worker: w, end: e))
                }
            }
        }
        children.sort { a, b in
            if a.bound != b.bound { return a.bound < b.bound }
            if a.worker != b.worker { return a.worker < b.worker }
            return a.end > b.end
        }
    }
}
