/// What the built-in benchmark measured, reported to the scheduler when registering.
struct WorkerCapabilities: Sendable, Equatable {
    var memoryBytes: UInt64 = 0
    var cpuCount = 0
    var computeGflops = 0.0
    var memoryBandwidthGbps = 0.0
    /// Weight bytes per second the decode kernel consumes: what a decode step really costs.
    var decodeGbps = 0.0
    var version = ""
}

/// One forward call of a hosted stage, for the scheduler's speed estimates.
struct StepTiming: Sendable, Equatable {
    var layers: Range<Int>
    var tokens: Int
    var seconds: Double
    var weightBytes: Int
}

/// One decode step's hop to the next stage, for the scheduler's link estimates.
struct LinkTiming: Sendable, Equatable {
    var toWorkerID: String
    var roundTripSeconds: Double
    var bytes: Int
}

/// How busy the worker is now (heartbeats, GetStatus).
struct WorkerLoad: Sendable, Equatable {
    var activeSessions = 0
    var memoryUsedBytes: UInt64 = 0
    var recentSteps: [StepTiming] = []
    var recentLinks: [LinkTiming] = []
}
