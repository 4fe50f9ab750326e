import Foundation
import ServiceKit
import TesseraProto

// The scheduler's worker records as ListWorkers sends them (what workers report converts in
// TesseraProto/Conversions/WorkerReport+Domain.swift).

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
        quarantined = worker.quarantined
    }
}
