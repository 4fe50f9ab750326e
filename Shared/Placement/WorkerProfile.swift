/// How fast a worker runs a stage: the cost model the optimizer plans with.
///
/// secondsPerToken(range) = overhead + bytesRead / bytesPerSecond + flops / flopsPerSecond.
/// The first term is fixed per step (dispatch, RPC handling); the second dominates decode,
/// which streams every weight once per token; the third matters for compute-poor devices.
/// The sum (rather than a roofline max) keeps stage time additive over layers, which the
/// exact search relies on, and errs on the slow side. The scheduler keeps it current by
/// scaling it with `SpeedEstimator` from real step timings.
public struct WorkerSpeed: Sendable, Hashable, Codable {
    /// Effective bytes of weights streamed per second (measured, not the datasheet figure).
    public var bytesPerSecond: Double
    /// Effective FLOP/s; `.infinity` ignores compute.
    public var flopsPerSecond: Double
    /// Fixed seconds per step regardless of range size.
    public var overheadSeconds: Double

    public init(
        bytesPerSecond: Double, flopsPerSecond: Double = .infinity, overheadSeconds: Double = 0
    ) {
        self.bytesPerSecond = bytesPerSecond
        self.flopsPerSecond = flopsPerSecond
        self.overheadSeconds = overheadSeconds
    }

    /// Predicted seconds for one decode step over a range with these totals.
    public func seconds(bytesRead: Double, flops: Double) -> Double {
        overheadSeconds + bytesRead / bytesPerSecond
            + (flopsPerSecond.isInfinite ? 0 : flops / flopsPerSecond)
    }

    /// This speed with every time term multiplied by `factor` (> 1 means slower).
    public func slowed(by factor: Double) -> WorkerSpeed {
        WorkerSpeed(
            bytesPerSecond: bytesPerSecond / factor, flopsPerSecond: flopsPerSecond / factor,
            overheadSeconds: overheadSeconds * factor)
    }
}

/// One machine that can host a stage.
public struct WorkerProfile: Sendable, Hashable, Codable {
    public var id: String
    /// Bytes usable for this model's shard plus its reserved KV cache.
    public var memoryBudgetBytes: Int
    public var speed: WorkerSpeed
    /// Sessions the worker is already running for other work; they time-share its compute
    /// (see `PlacementOptions.loadPenaltyPerSession`).
    public var activeSessions: Int
    /// Concurrent sessions to reserve KV memory for (at least one is always reserved).
    public var expectedSessions: Int

    public init(
        id: String, memoryBudgetBytes: Int, speed: WorkerSpeed, activeSessions: Int = 0,
        expectedSessions: Int = 1
    ) {
        self.id = id
        self.memoryBudgetBytes = memoryBudgetBytes
        self.speed = speed
        self.activeSessions = activeSessions
        self.expectedSessions = expectedSessions
    }
}
