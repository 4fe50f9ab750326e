/// Chooses the Lagrangian penalties of `RelaxedBound` by projected subgradient ascent on the
/// root bound, used when the plain bounds leave the search too much to explore.
///
/// The relaxed optimum tends to cycle through the few best workers (A → B → C → A); the
/// gradient of the bound in λ_u is (stages u hosts on that path − 1), so workers used
/// repeatedly get dearer and the path spreads over distinct workers, the way a real
/// pipeline must, paying the links that spreading costs. Interchangeable workers share one
/// penalty (its gradient is the class's total), otherwise the path would just hop to an
/// identical twin at no cost. Step sizes follow Polyak's rule towards `upperBound` (the best
/// pipeline known, or the replica cutoff), halved when progress stalls.
enum LagrangianTuning {
    static func tune(
        start: RelaxedBound, upperBound: Double, predecessor: [Int], iterations: Int = 30
    ) -> RelaxedBound {
        let tables = start.tables
        let count = tables.workerCount
        // Class of each worker: the first member (in id order) of its interchangeable chain.
        var classOf = [Int](repeating: 0, count: count)
        for w in 0..<count { classOf[w] = predecessor[w] < 0 ? w : classOf[predecessor[w]] }

        let target = upperBound.isFinite ? upperBound : start.root * 1.25 + 1e-3
        var best = start
        var current = start
        var lambda = start.penalties
        var scale = 1.0
        var stalled = 0
        var halvings = 0
        for _ in 0..<iterations {
            let gap = target - current.root
            if !current.root.isFinite || gap <= 0 { break }
            let uses = current.rootUses()
            var gradient = [Double](repeating: 0, count: count)
            for w in 0..<count { gradient[classOf[w]] += Double(uses[w] - 1) }
            var norm = 0.0
            for c in 0..<count where classOf[c] == c {
                if lambda[c] <= 0 && gradient[c] < 0 { gradient[c] = 0 }
                norm += gradient[c] * gradient[c]
            }
            // No worker repeated and every penalised worker used once: the bound is tight.
            if norm == 0 { break }
            let step = scale * gap / norm
            for c in 0..<count where classOf[c] == c {
                lambda[c] = max(0, lambda[c] + step * gradient[c])
            }
            for w in 0..<count { lambda[w] = lambda[classOf[w]] }
            current = RelaxedBound(tables: tables, penalties: lambda)
            if current.root > best.root * (1 + 1e-9) {
                best = current
                stalled = 0
            } else {
                // Subgradient steps need not ascend; only repeated failure means the step
                // is too long. Give up once shorter steps stop helping too.
                stalled += 1
                if stalled >= 3 {
                    scale /= 2
                    stalled = 0
                    halvings += 1
                    if halvings > 2 { break }
                }
            }
        }
        return best
    }
}
