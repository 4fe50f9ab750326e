/// Admissible estimates of what finishing a partial pipeline costs at least: the search
/// prunes a branch when its cost so far plus the bound cannot beat the best pipeline found.
/// Two complementary bounds, the larger taken: `RelaxedBound` sees links but lets workers
/// repeat; `KnapsackBound` forbids repeats but ignores which links are taken.
struct LowerBounds {
    var relaxed: RelaxedBound
    let knapsack: KnapsackBound

    init(tables: CostTables) {
        relaxed = RelaxedBound(tables: tables)
        knapsack = KnapsackBound(tables: tables)
    }

    var root: Double { relaxed.root }

    func penalty(_ w: Int) -> Double { relaxed.penalties[w] }

    func bound(from e: Int, after last: Int, beforeLast: Int, used: WorkerMask, usedPenalty: Double) -> Double {
        if e == relaxed.tables.layerCount { return 0 }
        let path = relaxed.bound(from: e, after: last, beforeLast: beforeLast, usedPenalty: usedPenalty)
        if path == .infinity { return .infinity }
        return max(path, knapsack.bound(from: e, after: last, used: used))
    }
}
