import Placement
import TesseraProto

/// Turns what workers reported (capabilities, load, observed step timings) into the
/// optimizer's profiles. Decode streams every weight once per token, so a worker's speed is
/// its measured memory bandwidth; its FLOP rate bounds compute-poor devices; each step pays
/// a fixed RPC overhead.
struct WorkerProfiles {
    static let stepOverheadSeconds = 0.0005

    static func profile(
        _ worker: Tessera_V1_WorkerInfo, slowdown: Double, expectedSessions: Int
    ) -> WorkerProfile {
        let capabilities = worker.capabilities
        let bandwidth = max(capabilities.memoryBandwidthGbps, 0.1) * 1e9
        let flops = max(capabilities.computeGflops, 0.1) * 1e9
        let speed = WorkerSpeed(bytesPerSecond: bandwidth, flopsPerSecond: flops, overheadSeconds: stepOverheadSeconds)
        return WorkerProfile(
            id: worker.workerID, memoryBudgetBytes: Int(clamping: capabilities.memoryBytes),
            speed: speed.slowed(by: slowdown), activeSessions: 0, expectedSessions: expectedSessions)
    }
}
