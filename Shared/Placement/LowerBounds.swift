/// Admissible estimates of what finishing a partial pipeline costs at least: the search
/// prunes a branch when its cost so far plus the bound cannot beat the best pipeline found.
/// Two complementary bounds, the larger taken by the search: `RelaxedBound` sees links but
/// lets workers repeat; `KnapsackBound` forbids repeats but sees links only coarsely.
struct LowerBounds {
    var relaxed: RelaxedBound
    let knapsack: KnapsackBound

    init(tables: CostTables) {
        relaxed = RelaxedBound(tables: tables)
        knapsack = KnapsackBound(tables: tables)
    }

    var root: Double { relaxed.root }

    func penalty(_ w: Int) -> Double { relaxed.penalties[w] }
}
