import Cluster

// What workers report (registration, heartbeats, GetStatus, ListWorkers), both ways.

extension WorkerCapabilities {
    public init(_ wire: Tessera_V1_WorkerCapabilities) {
        self.init(
            memoryBytes: wire.memoryBytes, cpuCount: Int(wire.cpuCount),
            computeGflops: wire.computeGflops,
            memoryBandwidthGbps: wire.memoryBandwidthGbps, decodeGbps: wire.decodeGbps,
            version: wire.version, sessionSlots: Int(wire.sessionSlots))
    }
}

extension Tessera_V1_WorkerCapabilities {
    public init(_ capabilities: WorkerCapabilities) {
        self.init()
        memoryBytes = capabilities.memoryBytes
        cpuCount = UInt32(clamping: capabilities.cpuCount)
        computeGflops = capabilities.computeGflops
        memoryBandwidthGbps = capabilities.memoryBandwidthGbps
        decodeGbps = capabilities.decodeGbps
        version = capabilities.version
        sessionSlots = UInt32(clamping: capabilities.sessionSlots)
    }
}

extension StepTiming {
    public init(_ wire: Tessera_V1_StepTiming) {
        self.init(
            layers: wire.hasLayers ? wire.layers.range : nil, tokens: Int(wire.tokens),
            seconds: wire.seconds,
            weightBytes: wire.weightBytes)
    }
}

extension Tessera_V1_StepTiming {
    public init(_ timing: StepTiming) {
        self.init()
        if let range = timing.layers { layers = Tessera_V1_LayerRange(range) }
        tokens = UInt32(clamping: timing.tokens)
        seconds = timing.seconds
        weightBytes = timing.weightBytes
    }
}

extension LinkTiming {
    public init(_ wire: Tessera_V1_LinkTiming) {
        self.init(
            toWorkerID: wire.toWorkerID, roundTripSeconds: wire.roundTripSeconds, bytes: wire.bytes)
    }
}

extension Tessera_V1_LinkTiming {
    public init(_ timing: LinkTiming) {
        self.init()
        toWorkerID = timing.toWorkerID
        roundTripSeconds = timing.roundTripSeconds
        bytes = timing.bytes
    }
}

extension WorkerLoad {
    public init(_ wire: Tessera_V1_WorkerLoad) {
        self.init(
            activeSessions: Int(wire.activeSessions), memoryUsedBytes: wire.memoryUsedBytes,
            cpuUtilization: wire.cpuUtilization, recentSteps: wire.recentSteps.map(StepTiming.init),
            recentLinks: wire.recentLinks.map(LinkTiming.init),
            sessionSlots: Int(wire.sessionSlots))
    }
}

extension Tessera_V1_WorkerLoad {
    public init(_ load: WorkerLoad) {
        self.init()
        activeSessions = UInt32(clamping: load.activeSessions)
        memoryUsedBytes = load.memoryUsedBytes
        cpuUtilization = load.cpuUtilization
        recentSteps = load.recentSteps.map(Tessera_V1_StepTiming.init)
        recentLinks = load.recentLinks.map(Tessera_V1_LinkTiming.init)
        sessionSlots = UInt32(clamping: load.sessionSlots)
    }
}
