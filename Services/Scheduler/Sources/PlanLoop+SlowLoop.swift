import Logging
import Placement
import ServiceKit

/// The slow loop: replicas from forecast demand, and shards pre-staged on disks.
extension PlanLoop {
    /// The slow loop's first half: forecast demand per model and decide how many pipelines
    /// each should have (used at its next plan).
    func decideReplicas(_ cache: inout ServingCache, now: ContinuousClock.Instant) async {
        cache.absorbRequests(models)
        for entry in models.entries() {
            let (planned, _) = await entry.pipelines.replicaCounts()
            let target = cache.replicas(
                for: entry, secondsPerToken: await entry.pipelines.plan?.primary.secondsPerToken,
                maxPipelines: settings.maxPipelines, now: now)
            if target != entry.targetReplicas {
                models.update(entry.key) { $0.targetReplicas = target }
                logger.info(
                    "replicas decided",
                    metadata: [
                        "model": "\(entry.name)", "replicas": "\(target)", "planned": "\(planned)",
                        "forecast_per_minute": "\(cache.forecastPerMinute(entry.key))",
                    ])
            }
        }
    }

    /// The slow loop's second half: shards on disks where a failover (every warm model) or
    /// growth (the two cold models most in demand) will need them (ShardPrestager).
    func prestage(
        _ cache: ServingCache, workers: [RegisteredWorker], profiles: [WorkerProfile],
        in group: inout DiscardingTaskGroup
    ) async {
        guard let prestager else { return }
        var targets: [(model: ServedModel, workerID: String, layers: Range<Int>)] = []
        for entry in models.entries() where entry.state == .warm {
            guard let plan = await entry.pipelines.plan else { continue }
            for (worker, layers) in ShardPrestager.failoverStages(
                of: plan, model: entry.model.profile, workers: profiles, links: settings.links)
            {
                targets.append((entry.model, worker, layers))
            }
        }
        let rising = models.entries().filter { $0.state == .cold && !$0.unserved }
            .map { (entry: $0, rate: cache.forecastPerMinute($0.key)) }
            .filter { $0.rate > 0 }.sorted { $0.rate > $1.rate }.prefix(2)
        for (entry, _) in rising {
            for (worker, layers) in ShardPrestager.loadStages(
                model: entry.model.profile, workers: profiles, links: settings.links,
                contextLength: settings.contextLength)
            {
                targets.append((entry.model, worker, layers))
            }
        }
        prestager.start(targets, workers: workers, in: &group)
    }
}
