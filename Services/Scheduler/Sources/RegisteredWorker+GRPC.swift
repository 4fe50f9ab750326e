import Foundation
import ServiceKit
import TesseraProto

// The scheduler's worker records and the wire's messages. Registration and heartbeats come
// in through `init(_:)`s here; ListWorkers goes out through `Tessera_V1_WorkerInfo.init`.

extension WorkerCapabilities {
    init(_ wire: Tessera_V1_WorkerCapabilities) {
        self.init(
            memoryBytes: wire.memoryBytes, cpuCount: Int(wire.cpuCount), computeGflops: wire.computeGflops,
            memoryBandwidthGbps: wire.memoryBandwidthGbps, version: wire.version, decodeGbps: wire.decodeGbps)
    }
}

extension Tessera_V1_WorkerCapabilities {
    init(_ capabilities: WorkerCapabilities) {
        self.init()
        memoryBytes = capabilities.memoryBytes
        cpuCount = UInt32(clamping: capabilities.cpuCount)
        computeGflops = capabilities.computeGflops
        memoryBandwidthGbps = capabilities.memoryBandwidthGbps
        version = capabilities.version
        decodeGbps = capabilities.decodeGbps
    }
}

extension WorkerLoad {
    init(_ wire: Tessera_V1_WorkerLoad) {
        self.init(
            activeSessions: Int(wire.activeSessions), memoryUsedBytes: wire.memoryUsedBytes, cpuUtilization: wire.cpuUtilization,
            recentSteps: wire.recentSteps.map {
                StepTiming(layers: $0.hasLayers ? $0.layers.range : nil, tokens: Int($0.tokens), seconds: $0.seconds, weightBytes: $0.weightBytes)
            },
            recentLinks: wire.recentLinks.map {
                LinkTiming(toWorkerID: $0.toWorkerID, roundTripSeconds: $0.roundTripSeconds, bytes: $0.bytes)
            })
    }
}

extension Tessera_V1_WorkerLoad {
    init(_ load: WorkerLoad) {
        self.init()
        activeSessions = UInt32(clamping: load.activeSessions)
        memoryUsedBytes = load.memoryUsedBytes
        cpuUtilization = load.cpuUtilization
        recentSteps = load.recentSteps.map { step in
            .with {
                if let layers = step.layers { $0.layers = Tessera_V1_LayerRange(layers) }
                $0.tokens = UInt32(clamping: step.tokens)
                $0.seconds = step.seconds
                $0.weightBytes = step.weightBytes
            }
        }
        recentLinks = load.recentLinks.map { link in
            .with {
                $0.toWorkerID = link.toWorkerID
                $0.roundTripSeconds = link.roundTripSeconds
                $0.bytes = link.bytes
            }
        }
    }
}

extension Tessera_V1_WorkerInfo {
    init(_ worker: RegisteredWorker) {
        self.init()
        workerID = worker.id
        address = worker.address.description
        capabilities = Tessera_V1_WorkerCapabilities(worker.capabilities)
        load = Tessera_V1_WorkerLoad(worker.load)
        lastHeartbeatUnixMs = Int64(worker.lastHeartbeat.timeIntervalSince1970 * 1000)
        readyShards = worker.readyShards.map(Tessera_V1_ShardRef.init)
        reputation = worker.reputation
    }
}
