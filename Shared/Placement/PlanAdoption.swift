/// Whether a re-solved plan is worth moving shards for when only speeds drifted.
///
/// The optimizer is exact, so any change in relative speeds can move a layer boundary, and
/// a moved boundary means new shards: downloads, loads and a drain of the old pipelines.
/// After a drift the candidate is compared with the current layout re-predicted under the
/// same new speeds (`repredicted`, then `worthAdopting`), and adopted only if it is clearly better: its fastest pipeline is
/// `minimumGain` faster, or its aggregate throughput `minimumGain` higher. A uniform
/// slowdown (every worker busier) changes neither, so it moves nothing. Membership and
/// memory changes are not judged here: the old plan may no longer be possible.
public struct PlanAdoption: Sendable {
    /// Relative improvement worth a re-deployment: 0.15 = 15%.
    public var minimumGain: Double

    public init(minimumGain: Double = 0.15) {
        self.minimumGain = minimumGain
    }

    /// Whether `candidate` beats `kept`: the current layout re-predicted under the same
    /// speeds (`repredicted`). When the layout cannot be kept (a worker of it is gone), adopt.
    public func worthAdopting(_ candidate: Plan, over kept: Plan) -> Bool {
        guard !kept.pipelines.isEmpty, !candidate.pipelines.isEmpty else { return true }
        let keptFastest = kept.pipelines.map(\.secondsPerToken).min() ?? .infinity
        let candidateFastest = candidate.pipelines.map(\.secondsPerToken).min() ?? .infinity
        return candidateFastest < keptFastest * (1 - minimumGain)
            || candidate.aggregateTokensPerSecond > kept.aggregateTokensPerSecond
                * (1 + minimumGain)
    }

    /// The current layout with its predictions and assumed workers brought up to date, so
    /// later drift is measured from today's speeds. Nil if a worker of the plan is gone or
    /// the model changed shape.
    /// Stages on variants are re-predicted with `quality`'s variants (nil when it no longer
    /// lists one, or the pipeline's KL no longer fits its budget).
    public func repredicted(
        _ plan: Plan, model: ModelProfile, workers: [WorkerProfile], links: LinkModel,
        quality: QualityBudget? = nil
    ) -> Plan? {
        var pipelines: [Pipeline] = []
        for pipeline in plan.pipelines {
            guard
                let predicted = Placement.predict(
                    stages: pipeline.stages.map { ($0.workerID, $0.layers, $0.variant) },
                    model: model, quality: quality, workers: workers,
                    links: links, options: plan.options),
                predicted.predictedKL <= (quality?.maxMeanKL ?? 0) * (1 + 1e-12)
            else { return nil }
            pipelines.append(predicted)
        }
        var updated = plan
        updated.pipelines = pipelines
        updated.assumedWorkers = workers.sorted { $0.id < $1.id }
        updated.maxMeanKL = quality?.maxMeanKL
        return updated
    }
}
