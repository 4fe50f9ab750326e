import TesseraProto

// What the worker reports about itself, as the registration, heartbeat and GetStatus
// messages carry it. The only conversions of these types to the wire.
extension Tessera_V1_WorkerCapabilities {
    init(_ capabilities: WorkerCapabilities) {
        self.init()
        memoryBytes = capabilities.memoryBytes
        cpuCount = UInt32(clamping: capabilities.cpuCount)
        computeGflops = capabilities.computeGflops
        memoryBandwidthGbps = capabilities.memoryBandwidthGbps
        decodeGbps = capabilities.decodeGbps
        version = capabilities.version
    }
}

extension Tessera_V1_StepTiming {
    init(_ timing: StepTiming) {
        self.init()
        layers = Tessera_V1_LayerRange(timing.layers)
        tokens = UInt32(clamping: timing.tokens)
        seconds = timing.seconds
        weightBytes = UInt64(clamping: timing.weightBytes)
    }
}

extension Tessera_V1_LinkTiming {
    init(_ timing: LinkTiming) {
        self.init()
        toWorkerID = timing.toWorkerID
        roundTripSeconds = timing.roundTripSeconds
        bytes = UInt64(clamping: timing.bytes)
    }
}

extension Tessera_V1_WorkerLoad {
    init(_ load: WorkerLoad) {
        self.init()
        activeSessions = UInt32(clamping: load.activeSessions)
        memoryUsedBytes = load.memoryUsedBytes
        recentSteps = load.recentSteps.map(Tessera_V1_StepTiming.init)
        recentLinks = load.recentLinks.map(Tessera_V1_LinkTiming.init)
    }
}

extension WorkerState {
    /// The ready shards as registrations, heartbeats and GetStatus list them.
    var wireReadyShards: [Tessera_V1_ShardRef] { readyShards.map(Tessera_V1_ShardRef.init) }
}
