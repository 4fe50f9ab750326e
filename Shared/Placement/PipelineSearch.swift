/// A pipeline as dense worker indices and the end boundary of each one's range.
struct PipelineSolution {
    var workers: [Int]
    var ends: [Int]
    var seconds: Double
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
final class PipelineSearch {
    private let tables: CostTables
    private let bounds: LowerBounds
    private let predecessor: [Int]
    private let nodeBudget: Int

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
    private let seenLimit = 1 << 20
    private var used = WorkerMask()
    private var pathWorkers: [Int] = []
    private var pathEnds: [Int] = []
    private var best: PipelineSolution?
    private(set) var nodes = 0
    /// True when the node budget ran out; the best pipeline found is then not proven optimal.
    private(set) var exhausted = false

    init(tables: CostTables, bounds: LowerBounds, nodeBudget: Int) {
        self.tables = tables
        self.bounds = bounds
        self.predecessor = tables.interchangeablePredecessors()
        self.nodeBudget = nodeBudget
    }

    /// The fastest pipeline, or nil when none exists (or none was found within budget).
    func run() -> PipelineSolution? {
        if bounds.root.isFinite { expand(boundary: 0, last: -1, costSoFar: 0) }
        return best
    }

    /// Pipelines must beat the incumbent by a relative 1e-12: float noise never replaces a
    /// pipeline found earlier (in the deterministic order) by an equally fast one.
    private var limit: Double {
        guard let best else { return .infinity }
        return best.seconds * (1 - 1e-12)
    }

    private func expand(boundary b: Int, last: Int, costSoFar: Double) {
        nodes += 1
        if nodes > nodeBudget {
            exhausted = true
            return
        }
        if b > 0 && !isNewOrCheaper(boundary: b, last: last, cost: costSoFar) { return }

        let children = makeChildren(boundary: b, last: last, costSoFar: costSoFar)
        for child in children {
            if exhausted || child.bound >= limit { return }
            let cost = costSoFar + child.step
            if child.end == tables.layerCount {
                best = PipelineSolution(workers: pathWorkers + [child.worker], ends: pathEnds + [child.end], seconds: cost)
                continue
            }
            let savedUsed = used
            used = used.inserting(child.worker)
            pathWorkers.append(child.worker)
            pathEnds.append(child.end)
            expand(boundary: child.end, last: child.worker, costSoFar: cost)
            pathWorkers.removeLast()
            pathEnds.removeLast()
            used = savedUsed
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
    private func makeChildren(boundary b: Int, last: Int, costSoFar: Double) -> [Child] {
        let t = tables
        let cutoff = limit
        var children: [Child] = []
        for w in 0..<t.workerCount where !used.contains(w) {
            let previous = predecessor[w]
            if previous >= 0 && !used.contains(previous) { continue }
            let hi = t.maxEnd(w, b)
            if hi <= b { continue }
            let entry = b == 0 ? t.ingressSeconds[w] : t.linkSeconds(last, w)
            let usedAfter = used.inserting(w)
            for e in (b + 1)...hi {
                var step = entry + t.computeSeconds(w, b, e)
                if e == t.layerCount { step += t.egressSeconds[w] }
                let bound = costSoFar + step + bounds.bound(from: e, after: w, used: usedAfter)
                if bound < cutoff { children.append(Child(bound: bound, step: step, worker: w, end: e)) }
            }
        }
        children.sort { a, b in
            if a.bound != b.bound { return a.bound < b.bound }
            if a.worker != b.worker { return a.worker < b.worker }
            return a.end > b.end
        }
        return children
    }
}
