/// Exact branch and bound for the fastest pipeline when stages may run variants under a
/// quality budget: `PipelineSearch` with one more choice per stage (its form: the reference
/// or a variant) and one more resource (predicted KL, summed over stages, at most the
/// budget).
///
/// Still exact: the bounds come from the lower envelope (per layer the cheapest form in
/// memory and time), so they never exceed what any mix of forms costs; a child over the KL
/// budget is infeasible, not merely worse. A state (b, last, used) reached again is dropped
/// only when an earlier visit had no greater cost AND no greater KL spent: with less KL left
/// a later visit has fewer finishes, never more, so nothing the earlier one missed is lost.
final class VariantPipelineSearch: PipelineSearching {
    private let tables: VariantTables
    private let bounds: LowerBounds
    private let predecessor: [Int]
    private let nodeBudget: Int
    private let cutoff: Double
    private let klLimit: Double

    private struct StateKey: Hashable {
        var boundary: Int32
        var last: Int32
        var used: WorkerMask
    }
    /// A (cost, KL) pair reached at a state; the list per state keeps only undominated ones.
    private struct Reached {
        var cost: Double
        var kl: Double
    }
    private struct Child {
        var bound: Double
        var step: Double
        var kl: Double
        var worker: Int
        var end: Int
        var form: Int
    }

    private var seen: [StateKey: [Reached]] = [:]
    private let seenLimit = 1 << 19
    private var used = WorkerMask()
    private var usedPenalty = 0.0
    private var pathWorkers: [Int] = []
    private var pathEnds: [Int] = []
    private var pathForms: [Int] = []
    private var best: PipelineSolution?
    private(set) var nodes = 0
    private(set) var exhausted = false

    init(
        tables: VariantTables, bounds: LowerBounds, predecessor: [Int], nodeBudget: Int,
        cutoff: Double = .infinity, incumbent: PipelineSolution? = nil
    ) {
        self.tables = tables
        self.bounds = bounds
        self.predecessor = predecessor
        self.nodeBudget = nodeBudget
        self.cutoff = cutoff * (1 + 1e-12)
        self.klLimit = tables.maxMeanKL * (1 + 1e-12)
        self.best = incumbent
    }

    func run() -> PipelineSolution? {
        if bounds.root < limit { expand(boundary: 0, last: -1, costSoFar: 0, klSoFar: 0) }
        return best
    }

    private var limit: Double {
        guard let best else { return cutoff }
        return best.seconds * (1 - 1e-12)
    }

    private func expand(boundary b: Int, last: Int, costSoFar: Double, klSoFar: Double) {
        if b > 0 && !isUndominated(boundary: b, last: last, cost: costSoFar, kl: klSoFar) {
            return
        }
        if nodes >= nodeBudget {
            exhausted = true
            return
        }
        nodes += 1
        var children: [Child] = []
        makeChildren(
            boundary: b, last: last, costSoFar: costSoFar, klSoFar: klSoFar, into: &children)
        for child in children {
            if exhausted || child.bound >= limit { return }
            let cost = costSoFar + child.step
            if child.end == tables.layerCount {
                best = PipelineSolution(
                    workers: pathWorkers + [child.worker], ends: pathEnds + [child.end],
                    seconds: cost, forms: pathForms + [child.form])
                continue
            }
            let savedUsed = used
            let savedPenalty = usedPenalty
            used = used.inserting(child.worker)
            usedPenalty += bounds.penalty(child.worker)
            pathWorkers.append(child.worker)
            pathEnds.append(child.end)
            pathForms.append(child.form)
            expand(
                boundary: child.end, last: child.worker, costSoFar: cost,
                klSoFar: klSoFar + child.kl)
            pathWorkers.removeLast()
            pathEnds.removeLast()
            pathForms.removeLast()
            used = savedUsed
            usedPenalty = savedPenalty
        }
    }

    /// Records (cost, KL) at the state; false when an earlier visit dominates it.
    private func isUndominated(boundary: Int, last: Int, cost: Double, kl: Double) -> Bool {
        let key = StateKey(boundary: Int32(boundary), last: Int32(last), used: used)
        var list = seen[key] ?? []
        for earlier in list where cost >= earlier.cost * (1 - 1e-12) && kl >= earlier.kl {
            return false
        }
        if list.isEmpty && seen.count >= seenLimit { return true }
        list.removeAll { $0.cost >= cost && $0.kl >= kl }
        list.append(Reached(cost: cost, kl: kl))
        seen[key] = list
        return true
    }

    /// Every admissible (worker, end, form) whose bound can still beat the incumbent and
    /// whose KL fits what is left of the budget, best bound first; ties go to the lower
    /// worker id, then the longer range, then the reference before variants.
    private func makeChildren(
        boundary b: Int, last: Int, costSoFar: Double, klSoFar: Double,
        into children: inout [Child]
    ) {
        let envelope = tables.envelope
        let cutoff = limit
        let layers = tables.layerCount
        for w in 0..<envelope.workerCount where !used.contains(w) {
            let previous = predecessor[w]
            if previous >= 0 && !used.contains(previous) { continue }
            if envelope.maxEnd(w, b) <= b { continue }
            let cheapestEntry =
                b == 0 ? envelope.ingressSeconds[w] : envelope.linkSeconds(last, w)
            let penaltyAfter = usedPenalty + bounds.penalty(w)
            let startBound = bounds.relaxed.startBound(
                worker: w, boundary: b, previous: last, usedPenalty: penaltyAfter)
            if costSoFar + cheapestEntry + startBound >= cutoff { continue }
            let usedAfter = used.inserting(w)
            for form in 0..<tables.formCount {
                let t = tables.tables[form]
                let hi = t.maxEnd(w, b)
                if hi <= b { continue }
                let entry = b == 0 ? t.ingressSeconds[w] : t.linkSeconds(last, w)
                for e in (b + 1)...hi {
                    let kl = tables.predictedKL(form, b, e)
                    // KL only grows with e (more ranges touched).
                    if klSoFar + kl > klLimit { break }
                    var step = entry + t.stageSeconds(w, b, e)
                    if e == layers { step += t.egressSeconds[w] }
                    let reached = costSoFar + step
                    if reached >= cutoff { break }
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
                        children.append(
                            Child(
                                bound: bound, step: step, kl: kl, worker: w, end: e, form: form))
                    }
                }
            }
        }
        children.sort { a, b in
            if a.bound != b.bound { return a.bound < b.bound }
            if a.worker != b.worker { return a.worker < b.worker }
            if a.end != b.end { return a.end > b.end }
            return a.form < b.form
        }
    }
}
