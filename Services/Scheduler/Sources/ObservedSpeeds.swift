import Cluster
import Placement

/// What the scheduler has learned from real work: each worker's speed (from its decode step
/// timings) and each worker-to-worker link (from timed hops), on top of what workers
/// measured at start-up and the configured links.
struct ObservedSpeeds {
    private var estimators: [String: SpeedEstimator] = [:]
    private var links = LinkEstimator()

    /// Folds in the timings reported since the last call; forgets workers that are gone.
    mutating func absorb(
        steps: [String: [StepTiming]], hops: [String: [LinkTiming]], workers: [RegisteredWorker]
    ) {
        let live = Set(workers.map(\.id))
        for (from, timings) in hops {
            for hop in timings {
                links.observe(
                    from: from, to: hop.toWorkerID, roundTripSeconds: hop.roundTripSeconds,
                    bytes: Int(hop.bytes))
            }
        }
        links.keep(only: live)
        for worker in workers {
            var estimator =
                estimators[worker.id]
                ?? SpeedEstimator(
                    prior: WorkerProfiles.profile(worker, slowdown: 1, expectedSessions: 1).speed)
            for step in steps[worker.id] ?? [] where step.tokens == 1 && step.seconds > 0 {
                estimator.observe(bytesRead: Double(step.weightBytes), seconds: step.seconds)
            }
            estimators[worker.id] = estimator
        }
        estimators = estimators.filter { live.contains($0.key) }
    }

    /// The optimizer's view of `workers` as measured so far.
    func profiles(_ workers: [RegisteredWorker], expectedSessions: Int) -> [WorkerProfile] {
        workers.map {
            WorkerProfiles.profile(
                $0, slowdown: estimators[$0.id]?.slowdown ?? 1, expectedSessions: expectedSessions)
        }
    }

    /// `configured` with every measured pair in place.
    func links(over configured: LinkModel) -> LinkModel { links.applied(to: configured) }
}
