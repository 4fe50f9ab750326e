/// Keeps a worker's speed current from the step timings it reports.
///
/// Each observation is (bytes read, FLOPs, seconds) for one decode step of the worker's
/// range. Its ratio to what the prior speed predicts is smoothed with an exponentially
/// weighted moving average, and the estimate is the prior slowed (or sped up) by that ratio.
/// A ratio rather than a refit of bandwidth, FLOP rate and overhead: a worker runs one range,
/// so its samples all have the same shape and could not separate the three terms anyway,
/// and the ratio stays positive and stable under noise. Observations should be the worker's
/// own compute time for the step (not queueing behind other sessions).
public struct SpeedEstimator: Sendable, Hashable, Codable {
    /// The speed the estimate is relative to (a benchmark or the plan's assumption).
    public var prior: WorkerSpeed
    /// Weight of the newest observation, in (0, 1]. 0.2 averages over roughly ten steps.
    public var smoothing: Double
    /// Smoothed observed / predicted seconds (1 = as fast as the prior).
    public private(set) var slowdown: Double = 1
    public private(set) var sampleCount = 0

    public init(prior: WorkerSpeed, smoothing: Double = 0.2) {
        self.prior = prior
        self.smoothing = min(1, max(1e-6, smoothing))
    }

    /// Current best estimate of the worker's speed.
    public var estimate: WorkerSpeed { prior.slowed(by: slowdown) }

    /// Folds in one step timing. Non-positive or non-finite samples are ignored; single
    /// samples are clamped to [0.1, 10] × the prediction so one stall cannot swamp the average.
    public mutating func observe(bytesRead: Double, flops: Double = 0, seconds: Double) {
        let predicted = prior.seconds(bytesRead: bytesRead, flops: flops)
        guard predicted > 0, seconds > 0, seconds.isFinite, predicted.isFinite else { return }
        let ratio = min(10, max(0.1, seconds / predicted))
        // The first sample replaces the neutral start instead of being averaged with it.
        slowdown = sampleCount == 0 ? ratio : slowdown + smoothing * (ratio - slowdown)
        sampleCount += 1
    }

    /// Convenience for a plan's stage: the stage's bytes and FLOPs per token.
    public mutating func observe(stage: Stage, seconds: Double) {
        observe(bytesRead: stage.bytesReadPerToken, flops: stage.flopsPerToken, seconds: seconds)
    }
}
