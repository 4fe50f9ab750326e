/// Runs the exact search for one pipeline in two rounds: first with the plain bounds, which
/// settle most instances in a few nodes; if that round runs out of its small budget, the
/// Lagrangian penalties are tuned towards the best pipeline found so far and the search
/// restarts with the sharper bound, keeping that pipeline as the one to beat.
struct PipelineSolver {
    struct Outcome {
        var solution: PipelineSolution?
        /// True when the search finished: the solution is optimal (or none exists within
        /// the cutoff).
        var proven: Bool
        var nodes: Int
        /// Lower bound on the optimum (the optimum itself when proven).
        var lowerBound: Double
    }

    /// Nodes the plain-bound round may use before tuning is worth its cost.
    static let quickRoundNodes = 1_500

    /// `tables` are the instance's (with variants: their lower envelope, which the bounds
    /// are computed on); `variants`, when given, makes each stage pick its form too.
    static func solve(
        tables: CostTables, variants: VariantTables? = nil, nodeBudget: Int,
        cutoff: Double = .infinity
    ) -> Outcome {
        var bounds = LowerBounds(tables: tables)
        let predecessor = tables.interchangeablePredecessors()
        func search(_ budget: Int, _ incumbent: PipelineSolution?) -> any PipelineSearching {
            if let variants {
                return VariantPipelineSearch(
                    tables: variants, bounds: bounds, predecessor: predecessor,
                    nodeBudget: budget, cutoff: cutoff, incumbent: incumbent)
            }
            return PipelineSearch(
                tables: tables, bounds: bounds, predecessor: predecessor, nodeBudget: budget,
                cutoff: cutoff, incumbent: incumbent)
        }
        let quick = search(min(nodeBudget, quickRoundNodes), nil)
        var solution = quick.run()
        var nodes = quick.nodes
        if !quick.exhausted {
            return Outcome(
                solution: solution, proven: true, nodes: nodes,
                lowerBound: solution?.seconds ?? cutoff)
        }
        let plainRoot = bounds.root
        if nodes >= nodeBudget {
            return Outcome(
                solution: solution, proven: false, nodes: nodes,
                lowerBound: min(plainRoot, solution?.seconds ?? plainRoot))
        }
        bounds.relaxed = LagrangianTuning.tune(
            start: bounds.relaxed, upperBound: solution?.seconds ?? cutoff, predecessor: predecessor
        )
        let full = search(nodeBudget - nodes, solution)
        solution = full.run()
        nodes += full.nodes
        let proven = !full.exhausted
        let bound = max(plainRoot, bounds.root)
        return Outcome(
            solution: solution, proven: proven, nodes: nodes,
            lowerBound: proven
                ? (solution?.seconds ?? cutoff) : min(bound, solution?.seconds ?? bound))
    }
}
