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
///
/// A class over raw buffers: the table is O(L²·W + L·W²) work, rebuilt for every tuning
/// step, and the search reads it for every candidate stage.
final class RelaxedBound {
    let tables: CostTables
    let penalties: [Double]
    let penaltyTotal: Double
    /// Indexed [boundary * W + worker]. finish*: finishing [f, L) after worker u's stage
    /// ended at f, best and second best, with the next worker each takes (the second's
    /// differs from the first's; -1 means none). start*: worker v running from b, best and
    /// second-best penalised stage-plus-finish, labelled with the worker after v, and how it
    /// was reached (2 × end + which finish).
    private let finish1, finish2, start1, start2: UnsafeMutableBufferPointer<Double>
    private let finishNext1, finishNext2, startLabel1, startLabel2, startChoice1,
        startChoice2: UnsafeMutableBufferPointer<Int>
    private var rootWorker = -1
    /// Cheapest penalised complete relaxed path minus Σ λ: a bound on the whole problem.
    private(set) var root = Double.infinity

    init(tables: CostTables, penalties: [Double]? = nil) {
        self.tables = tables
        let count = tables.workerCount
        let size = (tables.layerCount + 1) * count
        let lambda = penalties ?? [Double](repeating: 0, count: count)
        self.penalties = lambda
        penaltyTotal = lambda.reduce(0, +)
        func doubles() -> UnsafeMutableBufferPointer<Double> {
            let buffer = UnsafeMutableBufferPointer<Double>.allocate(capacity: max(1, size))
            buffer.initialize(repeating: .infinity)
            return buffer
        }
        func ints() -> UnsafeMutableBufferPointer<Int> {
            let buffer = UnsafeMutableBufferPointer<Int>.allocate(capacity: max(1, size))
            buffer.initialize(repeating: -1)
            return buffer
        }
        (finish1, finish2, start1, start2) = (doubles(), doubles(), doubles(), doubles())
        (finishNext1, finishNext2, startLabel1, startLabel2) = (ints(), ints(), ints(), ints())
        (startChoice1, startChoice2) = (ints(), ints())
        tables.withFlatTables { compute($0) }
    }

    deinit {
        for buffer in [finish1, finish2, start1, start2] { buffer.deallocate() }
        for buffer in [
            finishNext1, finishNext2, startLabel1, startLabel2, startChoice1, startChoice2,
        ] {
            buffer.deallocate()
        }
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
        let count = tables.workerCount
        let layers = tables.layerCount
        var uses = [Int](repeating: 0, count: count)
        guard rootWorker >= 0 else { return uses }
        var worker = rootWorker
        var begin = 0
        var previous = -2  // -1 labels "no follower"
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

    /// Backwards over boundaries.
    private func compute(_ flat: CostTables.FlatTables) {
        let count = tables.workerCount
        let layers = tables.layerCount
        for u in 0..<count {
            finish1[layers * count + u] = tables.egressSeconds[u]
            finish2[layers * count + u] = tables.egressSeconds[u]
        }
        for b in stride(from: layers - 1, through: 0, by: -1) {
            for v in 0..<count { computeStart(worker: v, boundary: b, flat) }
            if b == 0 {
                for v in 0..<count where tables.ingressSeconds[v] + start1[v] < root {
                    root = tables.ingressSeconds[v] + start1[v]
                    rootWorker = v
                }
                root -= penaltyTotal
            } else {
                for p in 0..<count { computeFinish(after: p, boundary: b, flat) }
            }
        }
    }

    /// Best two ways for v to run [b, g) and finish, with distinct follower labels.
    private func computeStart(worker v: Int, boundary b: Int, _ flat: CostTables.FlatTables) {
        let count = tables.workerCount
        let layers = tables.layerCount
        var bestCost = Double.infinity
        var bestLabel = -2
        var bestChoice = -1
        var secondCost = Double.infinity
        var secondLabel = -2
        var secondChoice = -1
        let row = v * (layers + 1) + b
        let hi = flat.maxEnd[row]
        if hi > b {
            let offset = flat.stageOffset[row]
            for g in (b + 1)...hi {
                let stage = flat.stage[offset + g - b - 1]
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
    private func computeFinish(after p: Int, boundary b: Int, _ flat: CostTables.FlatTables) {
        let count = tables.workerCount
        var best = Double.infinity
        var bestNext = -1
        var second = Double.infinity
        var secondNext = -1
        let base = b * count
        let linkRow = p * count
        for v in 0..<count where v != p {
            let index = base + v
            let start = startLabel1[index] != p ? start1[index] : start2[index]
            let cost = flat.link[linkRow + v] + start
            if cost < best {
                second = best
                secondNext = bestNext
                best = cost
                bestNext = v
            } else if cost < second {
                second = cost
                secondNext = v
            }
        }
        finish1[base + p] = best
        finishNext1[base + p] = bestNext
        finish2[base + p] = second
        finishNext2[base + p] = secondNext
    }
}
