import Placement

/// Turns what workers reported (capabilities, load, observed step timings) into the
/// optimizer's profiles. Decode streams every weight once per token, so a worker's speed is
/// the rate its decode kernel consumes quantized weights (measured at start-up; it already
/// includes the arithmetic, so no separate FLOP term). A worker that does not report it
/// falls back to read bandwidth bounded by its FLOP rate. Each step pays a fixed overhead.
struct WorkerProfiles {
    static let stepOverheadSeconds = 0.0005

    static func profile(
        _ worker: RegisteredWorker, slowdown: Double, expectedSessions: Int
    ) -> WorkerProfile {
        let capabilities = worker.capabilities
        let speed: WorkerSpeed
        if capabilities.decodeGbps > 0 {
            speed = WorkerSpeed(
                bytesPerSecond: capabilities.decodeGbps * 1e9, overheadSeconds: stepOverheadSeconds)
        } else {
            speed = WorkerSpeed(
                bytesPerSecond: max(capabilities.memoryBandwidthGbps, 0.1) * 1e9,
                flopsPerSecond: max(capabilities.computeGflops, 0.1) * 1e9,
                overheadSeconds: stepOverheadSeconds)
        }
        return WorkerProfile(
            id: worker.id, memoryBudgetBytes: Int(clamping: capabilities.memoryBytes),
            speed: speed.slowed(by: slowdown), activeSessions: 0, expectedSessions: expectedSessions
        )
    }
}
