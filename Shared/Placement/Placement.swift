/// The placement optimizer: which workers run which contiguous layer ranges.
///
/// `solve` returns the fastest single pipeline (exactly, under the cost model in
/// `WorkerSpeed` and `LinkModel`) and then replicas on the workers left over. See README.md.
public enum Placement {
    /// Most usable workers one search takes (the width of its worker sets).
    public static let maxWorkersPerSearch = WorkerMask.capacity

    /// Plans pipelines for `model` over `workers`.
    ///
    /// The primary pipeline minimises predicted single-stream time per token: gateway →
    /// first stage, Σ stage compute, Σ activation hops, last stage → gateway. Replicas are
    /// then added one at a time, each the fastest pipeline over the workers not yet used,
    /// while it is predicted within `replicaLatencyFactor` × the primary's time per token
    /// (a request routed to a replica must not be served much slower) and the plan has fewer
    /// than `maxPipelines`. Each extra pipeline adds throughput; the factor caps the latency
    /// cost of the requests it takes. Deterministic: workers are taken in id order and ties
    /// go to lower ids.
    ///
    /// With a `quality` budget, each stage may also run its range on one of the budget's
    /// variants, as long as every pipeline's predicted KL stays within it
    /// (`VariantPipelineSearch`); without one every stage runs the model itself.
    public static func solve(
        model: ModelProfile, workers: [WorkerProfile], links: LinkModel = LinkModel(),
        options: PlacementOptions = PlacementOptions(), quality: QualityBudget? = nil
    ) throws -> Plan {
        try PlacementValidation.validate(
            model: model, workers: workers, links: links, options: options)
        try PlacementValidation.validate(quality: quality, model: model)
        let sorted = workers.sorted { $0.id < $1.id }
        let variants = VariantTables(
            model: model, quality: quality, workers: sorted, links: links, options: options)
        // With variants, memory checks and bounds use the cheapest form of each layer.
        let all =
            variants?.envelope
            ?? CostTables(model: model, workers: sorted, links: links, options: options)
        try PlacementValidation.checkEveryLayerFits(all)
        let usable = (0..<all.workerCount).filter(all.canHostAnything)
        try PlacementValidation.checkTotalMemory(all, usable: usable)
        if usable.count > maxWorkersPerSearch {
            throw PlacementError.tooManyWorkers(count: usable.count, limit: maxWorkersPerSearch)
        }

        let candidates = all.restricted(to: usable)
        let variantCandidates = variants?.restricted(to: usable)
        var remaining = Array(0..<candidates.workerCount)
        var pipelines: [Pipeline] = []
        var proven = true
        var nodes = 0
        var primaryBound = 0.0
        while pipelines.count < options.maxPipelines && !remaining.isEmpty
            && nodes < options.maxSearchNodes
        {
            let tables = candidates.restricted(to: remaining)
            let variantTables = variantCandidates?.restricted(to: remaining)
            // A replica slower than the latency limit would be refused, so don't look for one.
            let cutoff =
                pipelines.first.map { options.replicaLatencyFactor * $0.secondsPerToken }
                ?? .infinity
            let outcome = PipelineSolver.solve(
                tables: tables, variants: variantTables,
                nodeBudget: options.maxSearchNodes - nodes, cutoff: cutoff)
            nodes += outcome.nodes
            if !outcome.proven { proven = false }
            guard let solution = outcome.solution else {
                if !pipelines.isEmpty { break }
                if !outcome.proven {
                    throw PlacementError.searchBudgetExhausted(nodes: outcome.nodes)
                }
                throw PlacementError.fragmented(
                    workersUsable: remaining.count, layers: model.layers.count)
            }
            let pipeline =
                variantTables.map { makePipeline(solution, $0) } ?? makePipeline(solution, tables)
            if pipelines.isEmpty { primaryBound = outcome.lowerBound }
            pipelines.append(pipeline)
            let taken = Set(pipeline.workerIDs)
            remaining.removeAll { taken.contains(candidates.workers[$0].id) }
            // With the budget spent, later replicas would be guesses: stop at this one.
            if !outcome.proven { break }
        }
        if nodes >= options.maxSearchNodes && pipelines.count < options.maxPipelines
            && !remaining.isEmpty
        {
            proven = false
        }
        return Plan(
            pipelines: pipelines, layerCount: model.layers.count, assumedWorkers: sorted,
            options: options,
            provenOptimal: proven, primaryLowerBoundSeconds: primaryBound, searchNodes: nodes,
            maxMeanKL: quality?.maxMeanKL)
    }

    /// Predicted seconds per token of an explicit chain of (worker, range), for checking a
    /// hand-made or previous pipeline under current speeds. Nil if a worker id is unknown or
    /// the ranges are not contiguous from layer 0 to the last. Memory is not checked.
    public static func predict(
        stages: [(workerID: String, layers: Range<Int>)], model: ModelProfile,
        workers: [WorkerProfile],
        links: LinkModel = LinkModel(), options: PlacementOptions = PlacementOptions()
    ) -> Pipeline? {
        var expectedStart = 0
        for stage in stages {
            guard stage.layers.lowerBound == expectedStart, !stage.layers.isEmpty else {
                return nil
            }
            expectedStart = stage.layers.upperBound
        }
        guard expectedStart == model.layers.count else { return nil }
        let tables = CostTables(model: model, workers: workers, links: links, options: options)
        var indices: [Int] = []
        for stage in stages {
            guard let index = workers.firstIndex(where: { $0.id == stage.workerID }) else {
                return nil
            }
            indices.append(index)
        }
        let solution = PipelineSolution(
            workers: indices, ends: stages.map(\.layers.upperBound), seconds: 0)
        return makePipeline(solution, tables)
    }

    /// The pipeline of a solution whose stages each picked a form (reference or variant).
    static func makePipeline(_ solution: PipelineSolution, _ variants: VariantTables) -> Pipeline {
        var pipeline = makePipeline(solution, variants.tables[0])
        var begin = 0
        for (position, form) in solution.forms.enumerated() {
            let end = solution.ends[position]
            if form != 0 {
                var stage = makePipeline(
                    solution, variants.tables[form]
                ).stages[position]
                stage.variant = variants.names[form]
                stage.predictedKL = variants.predictedKL(form, begin, end)
                pipeline.stages[position] = stage
            }
            begin = end
        }
        return pipeline
    }

    /// `predict` for a chain whose stages may name variants of `quality` (nil: the model
    /// itself). Nil also when a stage names a variant the budget does not list.
    public static func predict(
        stages: [(workerID: String, layers: Range<Int>, variant: String?)], model: ModelProfile,
        quality: QualityBudget?, workers: [WorkerProfile], links: LinkModel = LinkModel(),
        options: PlacementOptions = PlacementOptions()
    ) -> Pipeline? {
        let plain = stages.map { (workerID: $0.workerID, layers: $0.layers) }
        guard stages.contains(where: { $0.variant != nil }) else {
            return predict(
                stages: plain, model: model, workers: workers, links: links, options: options)
        }
        guard let quality,
            predict(
                stages: plain, model: model, workers: workers, links: links, options: options)
                != nil
        else { return nil }
        let tables = VariantTables(
            model: model, variants: quality.variants, maxMeanKL: quality.maxMeanKL,
            workers: workers, links: links, options: options)
        var solution = PipelineSolution(workers: [], ends: [], seconds: 0)
        for stage in stages {
            guard let worker = workers.firstIndex(where: { $0.id == stage.workerID }),
                let form = tables.names.firstIndex(of: stage.variant)
            else { return nil }
            solution.workers.append(worker)
            solution.ends.append(stage.layers.upperBound)
            solution.forms.append(form)
        }
        return makePipeline(solution, tables)
    }

    static func makePipeline(_ solution: PipelineSolution, _ t: CostTables) -> Pipeline {
        var stages: [Stage] = []
        var begin = 0
        for (position, (w, end)) in zip(solution.workers, solution.ends).enumerated() {
            let isLast = position == solution.workers.count - 1
            let outgoing =
                isLast ? t.egressSeconds[w] : t.linkSeconds(w, solution.workers[position + 1])
            stages.append(
                Stage(
                    workerID: t.workers[w].id, layers: begin..<end,
                    shardBytes: t.shardBytes(begin, end),
                    kvReserveBytes: t.kvReserveBytes(w, begin, end), hostsEmbedding: begin == 0,
                    hostsOutputHead: end == t.layerCount,
                    bytesReadPerToken: t.bytesRead(begin, end),
                    flopsPerToken: t.flops(begin, end),
                    computeSeconds: t.computeSeconds(w, begin, end),
                    outgoingLinkSeconds: outgoing))
            begin = end
        }
        let first = solution.workers.first.map { t.ingressSeconds[$0] } ?? 0
        return Pipeline(stages: stages, ingressSeconds: first)
    }
}
