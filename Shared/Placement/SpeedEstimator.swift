/// Keeps a worker's speed current from the step timings it reports.
///
/// Each observation is (bytes read, FLOPs, seconds) for one decode step of the worker's
/// range. Its ratio to what the prior speed predicts is kept for the last `window` steps,
/// and the estimate is the prior slowed (or sped up) by the median ratio. A ratio rather
/// than a refit of bandwidth, FLOP rate and overhead: a worker runs one range, so its
/// samples all have the same shape and could not separate the three terms anyway.
/// A median rather than a moving average, and nothing until `minimumSamples` steps: the
/// first step on a freshly mapped shard pays its page faults, and a busy machine stalls a
/// step now and then; neither is the worker's speed, and each would move the plan (seen:
/// one cold step read as 10× slower, re-planned a two-stage cluster five times in three
/// seconds). Observations should be the worker's own compute time for the step (not
/// queueing behind other sessions).
public struct SpeedEstimator: Sendable, Hashable, Codable {
    /// The speed the estimate is relative to (a benchmark or the plan's assumption).
    public var prior: WorkerSpeed
    /// How many of the newest ratios the median is taken over.
    public var window: Int
    /// Observations needed before the estimate departs from the prior.
    public var minimumSamples: Int
    /// The newest observed / predicted ratios, oldest first.
    public private(set) var ratios: [Double] = []
    public private(set) var sampleCount = 0

    public init(prior: WorkerSpeed, window: Int = 16, minimumSamples: Int = 8) {
        self.prior = prior
        self.window = max(1, window)
        self.minimumSamples = max(1, min(minimumSamples, self.window))
    }

    /// Median observed / predicted seconds (1 = as fast as the prior; 1 until enough samples).
    public var slowdown: Double {
        guard ratios.count >= minimumSamples else { return 1 }
        let sorted = ratios.sorted()
        let middle = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
    }

    /// Current best estimate of the worker's speed.
    public var estimate: WorkerSpeed { prior.slowed(by: slowdown) }

    /// Folds in one step timing. Non-positive or non-finite samples are ignored, and so are
    /// steps whose predicted time is mostly the fixed per-step overhead (a one-layer stage):
    /// their ratio says little about how fast the worker streams weights, yet it would be
    /// applied to every range it might run. Ratios are clamped to [0.1, 10].
    public mutating func observe(bytesRead: Double, flops: Double = 0, seconds: Double) {
        let predicted = prior.seconds(bytesRead: bytesRead, flops: flops)
        guard predicted > 0, seconds > 0, seconds.isFinite, predicted.isFinite else { return }
        guard predicted - prior.overheadSeconds >= 2 * prior.overheadSeconds else { return }
        ratios.append(min(10, max(0.1, seconds / predicted)))
        if ratios.count > window { ratios.removeFirst(ratios.count - window) }
        sampleCount += 1
    }

    /// Convenience for a plan's stage: the stage's bytes and FLOPs per token.
    public mutating func observe(stage: Stage, seconds: Double) {
        observe(bytesRead: stage.bytesReadPerToken, flops: stage.flopsPerToken, seconds: seconds)
    }
}
