// What a worker says about itself: measured at start-up (capabilities) and with every
// heartbeat (load, with the step and hop timings observed since the last one). The worker
// writes these, the scheduler reads them; the wire form converts in TesseraProto.

/// What a worker measured at start-up.
public struct WorkerCapabilities: Sendable, Hashable {
    /// Budget for shards and KV caches.
    public var memoryBytes: UInt64
    /// Threads the worker computes with.
    public var cpuCount: Int
    public var computeGflops: Double
    public var memoryBandwidthGbps: Double
    /// Weight bytes per second (in GB/s) its decode kernel consumes: what a decode step
    /// really costs; 0 when not measured.
    public var decodeGbps: Double
    public var version: String
    /// Sessions it serves at once (its KV slots) when it registered; 0 = not limited.
    public var sessionSlots: Int

    public init(
        memoryBytes: UInt64 = 0, cpuCount: Int = 0, computeGflops: Double = 0,
        memoryBandwidthGbps: Double = 0,
        decodeGbps: Double = 0, version: String = "", sessionSlots: Int = 0
    ) {
        self.memoryBytes = memoryBytes
        self.cpuCount = cpuCount
        self.computeGflops = computeGflops
        self.memoryBandwidthGbps = memoryBandwidthGbps
        self.decodeGbps = decodeGbps
        self.version = version
        self.sessionSlots = sessionSlots
    }
}

/// One forward step a worker ran: its layers, tokens, compute time and the weight bytes read.
public struct StepTiming: Sendable, Hashable {
    public var layers: Range<Int>?
    public var tokens: Int
    public var seconds: Double
    public var weightBytes: UInt64

    public init(
        layers: Range<Int>? = nil, tokens: Int = 0, seconds: Double = 0, weightBytes: UInt64 = 0
    ) {
        self.layers = layers
        self.tokens = tokens
        self.seconds = seconds
        self.weightBytes = weightBytes
    }
}

/// One decode step's hop from a worker to the next stage: the round trip less what the next
/// stages reported doing.
public struct LinkTiming: Sendable, Hashable {
    public var toWorkerID: String
    public var roundTripSeconds: Double
    /// The request message's size.
    public var bytes: UInt64

    public init(toWorkerID: String, roundTripSeconds: Double, bytes: UInt64 = 0) {
        self.toWorkerID = toWorkerID
        self.roundTripSeconds = roundTripSeconds
        self.bytes = bytes
    }
}

/// How busy a worker is, with the timings it observed since its previous report.
public struct WorkerLoad: Sendable, Hashable {
    public var activeSessions: Int
    public var memoryUsedBytes: UInt64
    /// 0...1 over the last interval.
    public var cpuUtilization: Double
    public var recentSteps: [StepTiming]
    public var recentLinks: [LinkTiming]
    /// Sessions it serves at once now (a count derived from memory follows the shards it
    /// holds); 0 = not reported.
    public var sessionSlots: Int

    public init(
        activeSessions: Int = 0, memoryUsedBytes: UInt64 = 0, cpuUtilization: Double = 0,
        recentSteps: [StepTiming] = [], recentLinks: [LinkTiming] = [], sessionSlots: Int = 0
    ) {
        self.activeSessions = activeSessions
        self.memoryUsedBytes = memoryUsedBytes
        self.cpuUtilization = cpuUtilization
        self.recentSteps = recentSteps
        self.recentLinks = recentLinks
        self.sessionSlots = sessionSlots
    }
}
