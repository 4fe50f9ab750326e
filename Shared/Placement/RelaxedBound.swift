/// Cheapest finish of a partial pipeline when workers may be reused, except straight back:
/// a shortest path over (layer boundary, last worker) that sees every link, overhead,
/// memory limit and the head, and forbids both u → u and u → v → u ("2-cycle elimination":
/// each state keeps its best and second-best finish with different next workers, so a
/// path can always avoid stepping back to the worker before).
///
/// Optional Lagrangian penalties λ_u ≥ 0 make it sharper without losing admissibility.
/// Charge λ_u each time u hosts a stage and refund Σ λ once: a real pipeline uses each
/// worker at most once, so its charge never exceeds the refund and
///   cost(P) ≥ min over relaxed paths Q of [cost(Q) + Σ_u λ_u·uses_u(Q)] − Σ_{u unused} λ_u.
/// The first term is a table computed once per λ; the second only needs the running
/// penalty total of the workers already placed. `LagrangianTuning` picks λ.
struct RelaxedBound {
    let tables: CostTables
    let penalties: [Double]
    let penaltyTotal: Double
    /// Finish of [f, L) after worker u's stage ended at f: best and second best, with the
    /// next worker each takes (the second's differs from the first's; -1 means none).
    private var finish1: [Double]
    private var finish2: [Double]
    private var finishNext1: [Int]
    private var finishNext2: [Int]
    /// Worker v starting at b: best and second-best (penalised) stage-plus-finish, labelled
    /// with the worker that follows v, and how it was reached (end boundary, which finish).
    private var start1: [Double]
    private var start2: [Double]
    private var startLabel1: [Int]
    private var startLabel2: [Int]
    private var startChoice1: [Int]
    private var startChoice2: [Int]
    private var rootWorker = -1
    /// Cheapest penalised complete relaxed path minus Σ λ: a bound on the whole problem.
    private(set) var root = Double.infinity

    init(tables: CostTables, penalties: [Double]? = nil) {
        self.tables = tables
        let count = tables.workerCount, size = (tables.layerCount + 1) * count
        let lambda = penalties ?? [Double](repeating: 0, count: count)
        self.penalties = lambda
        penaltyTotal = lambda.reduce(0, +)
        finish1 = [Double](repeating: .infinity, count: size)
        finish2 = finish1
        finishNext1 = [Int](repeating: -1, count: size)
        finishNext2 = finishNext1
        start1 = finish1
        start2 = finish1
        startLabel1 = finishNext1
        startLabel2 = finishNext1
        startChoice1 = finishNext1
        startChoice2 = finishNext1
        compute()
    }

    /// Bound on finishing [e, L) after `last` (preceded by `beforeLast`, -1 if none), given
    /// the penalties of the workers already used (`last` included).
    func bound(from e: Int, after last: Int, beforeLast: Int, usedPenalty: Double) -> Double {
        if e == tables.layerCount { return 0 }
        let index = e * tables.workerCount + last
        let finish = finishNext1[index] != beforeLast ? finish1[index] : finish2[index]
        return finish - (penaltyTotal - usedPenalty)
    }

    /// Bound on any pipeline continuing with worker v from boundary b after `previous` (-1 at
    /// the start): the cheapest relaxed stage of v plus finish, so the search can skip v
    /// without looking at its end layers one by one. `usedPenalty` includes v's penalty.
    func startBound(worker v: Int, boundary b: Int, previous: Int, usedPenalty: Double) -> Double {
        let index = b * tables.workerCount + v
        // -1 labels "v runs to the end"; at the start there is no previous worker to avoid.
        let avoid = previous >= 0 ? previous : -2
        let start = startLabel1[index] != avoid ? start1[index] : start2[index]
        return start - penalties[v] - (penaltyTotal - usedPenalty)
    }

    /// How many stages each worker hosts on the root's optimal relaxed path.
    func rootUses() -> [Int] {
        let count = tables.workerCount, layers = tables.layerCount
        var uses = [Int](repeating: 0, count: count)
        guard rootWorker >= 0 else { return uses }
        var worker = rootWorker, begin = 0, previous = -2  // -1 labels "no follower"
        while true {
            uses[worker] += 1
            let index = begin * count + worker
            let choice = startLabel1[index] != previous ? startChoice1[index] : startChoice2[index]
            let end = choice / 2
            if end == layers { break }
            let finishIndex = end * count + worker
            let next = choice % 2 == 0 ? finishNext1[finishIndex] : finishNext2[finishIndex]
            previous = worker
            worker = next
            begin = end
        }
        return uses
    }

    /// Backwards over boundaries. O(L²·W + L·W²).
    private mutating func compute() {
        let t = tables, count = t.workerCount, layers = t.layerCount
        for u in 0..<count { finish1[layers * count + u] = t.egressSeconds[u] }
        finish2.replaceSubrange((layers * count)..<((layers + 1) * count), with: finish1[(layers * count)...])
        for b in stride(from: layers - 1, through: 0, by: -1) {
            for v in 0..<count { computeStart(worker: v, boundary: b) }
            if b == 0 {
                for v in 0..<count where t.ingressSeconds[v] + start1[v] < root {
                    root = t.ingressSeconds[v] + start1[v]
                    rootWorker = v
                }
                root -= penaltyTotal
            } else {
                for p in 0..<count { computeFinish(after: p, boundary: b) }
            }
        }
    }

    /// Best two ways for v to run [b, g) and finish, with distinct follower labels.
    private mutating func computeStart(worker v: Int, boundary b: Int) {
        let t = tables, count = t.workerCount
        var bestCost = Double.infinity, bestLabel = -2, bestChoice = -1
        var secondCost = Double.infinity, secondLabel = -2, secondChoice = -1
        let hi = t.maxEnd(v, b)
        if hi > b {
            for g in (b + 1)...hi {
                let stage = t.stageSeconds(v, b, g)
                let index = g * count + v
                // Each end offers its best finish and its second (different follower).
                for option in 0..<2 {
                    let cost = stage + (option == 0 ? finish1[index] : finish2[index])
                    let label = option == 0 ? finishNext1[index] : finishNext2[index]
                    if option == 1 && (cost == .infinity || label == finishNext1[index]) { break }
                    if cost < bestCost {
                        if label != bestLabel {
                            secondCost = bestCost
                            secondLabel = bestLabel
                            secondChoice = bestChoice
                        }
                        bestCost = cost
                        bestLabel = label
                        bestChoice = 2 * g + option
                    } else if label != bestLabel && cost < secondCost {
                        secondCost = cost
                        secondLabel = label
                        secondChoice = 2 * g + option
                    }
                }
            }
        }
        let index = b * count + v
        start1[index] = bestCost + penalties[v]
        startLabel1[index] = bestLabel
        startChoice1[index] = bestChoice
        start2[index] = secondCost + penalties[v]
        startLabel2[index] = secondLabel
        startChoice2[index] = secondChoice
    }

    /// Best two finishes of [b, L) after p with different next workers, never stepping
    /// back to p two stages on.
    private mutating func computeFinish(after p: Int, boundary b: Int) {
        let t = tables, count = t.workerCount
        var best = (Double.infinity, -1), second = (Double.infinity, -1)
        for v in 0..<count where v != p {
            let index = b * count + v
            let start = startLabel1[index] != p ? start1[index] : start2[index]
            let cost = t.linkSeconds(p, v) + start
            if cost < best.0 {
                second = best
                best = (cost, v)
            } else if cost < second.0 {
                second = (cost, v)
            }
        }
        let index = b * count + p
        finish1[index] = best.0
        finishNext1[index] = best.1
        finish2[index] = second.0
        finishNext2[index] = second.1
    }
}
