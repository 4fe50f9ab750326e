import Foundation
import Kernels
import Synchronization
import TesseraProto

/// What this worker knows about itself: its id once registered, measured capabilities,
/// and its current load (reported in heartbeats and GetStatus).
final class WorkerState: Sendable {
    private struct State {
        var workerID = ""
        var capabilities = Tessera_V1_WorkerCapabilities()
        var activeSessions: UInt32 = 0
    }

    private let state = Mutex(State())

    var workerID: String {
        get { state.withLock { $0.workerID } }
        set { state.withLock { $0.workerID = newValue } }
    }

    var capabilities: Tessera_V1_WorkerCapabilities {
        state.withLock { $0.capabilities }
    }

    /// Runs the built-in benchmark and records the figures the scheduler will see.
    func measureCapabilities(memoryBudget: UInt64, threads: Int) -> Tessera_V1_WorkerCapabilities {
        let probe = HardwareProbe.measure()
        var capabilities = Tessera_V1_WorkerCapabilities()
        capabilities.memoryBytes = memoryBudget
        capabilities.cpuCount = UInt32(threads)
        capabilities.computeGflops = probe.gflopsPerThread * Double(threads)
        capabilities.memoryBandwidthGbps = probe.memoryBandwidthGBps
        capabilities.version = "tessera-worker/0.1"
        state.withLock { $0.capabilities = capabilities }
        return capabilities
    }

    func load() -> Tessera_V1_WorkerLoad {
        var load = Tessera_V1_WorkerLoad()
        state.withLock { load.activeSessions = $0.activeSessions }
        load.memoryUsedBytes = Self.residentBytes()
        return load
    }

    /// Resident set size from /proc (Linux); 0 where unavailable.
    static func residentBytes() -> UInt64 {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
        let fields = text.split(separator: " ")
        guard fields.count > 1, let pages = UInt64(fields[1]) else { return 0 }
        return pages * UInt64(sysconf(Int32(_SC_PAGESIZE)))
    }
}
