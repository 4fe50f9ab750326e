import Cluster
import Foundation
import TesseraProto

// The one place the dashboard's overview is read from the scheduler's and the verifier's
// messages (worker capabilities and load use TesseraProto's shared conversions).

extension WorkerOverview {
    init(_ wire: Tessera_V1_WorkerInfo) {
        self.init(
            id: wire.workerID, address: wire.address,
            capabilities: WorkerCapabilities(wire.capabilities), load: WorkerLoad(wire.load),
            lastHeartbeat: Date(timeIntervalSince1970: Double(wire.lastHeartbeatUnixMs) / 1000),
            readyShards: wire.readyShards.count, schedulerReputation: wire.reputation,
            quarantined: wire.quarantined)
    }
}

extension WorkerReputationRecord {
    init(_ wire: Tessera_V1_Reputation) {
        let trust: Trust =
            switch wire.trust {
            case .new: .new
            case .trusted: .trusted
            case .quarantined: .quarantined
            default: .unknown
            }
        self.init(
            score: wire.score, trust: trust, checksPassed: wire.checksPassed,
            checksFailed: wire.checksFailed, slashed: wire.slashed, balance: wire.balance)
    }
}

extension PipelineOverview {
    init(_ wire: Tessera_V1_Pipeline, modelLayers: Int?) {
        self.init(
            id: wire.pipelineID, model: wire.model.domain, modelLayers: modelLayers,
            stages: wire.stages.map {
                Stage(
                    workerID: $0.workerID, address: $0.address, layers: $0.layers.range,
                    ready: $0.ready,
                    predictedMsPerToken: $0.predictedMsPerToken > 0 ? $0.predictedMsPerToken : nil)
            },
            predictedMsPerToken: wire.predictedMsPerToken > 0 ? wire.predictedMsPerToken : nil,
            activeRequests: Int(wire.activeRequests), draining: wire.draining,
            contextLength: wire.contextLength > 0 ? Int(wire.contextLength) : nil)
    }
}
