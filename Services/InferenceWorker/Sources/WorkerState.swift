import Foundation
import Kernels
import Synchronization
import TesseraProto

/// What this worker knows about itself: its id once registered, measured capabilities,
/// its ready shards, and its current load (reported in heartbeats and GetStatus).
final class WorkerState: Sendable {
    /// Step timings kept between heartbeats; older ones are dropped so a stalled scheduler
    /// link cannot grow memory without bound.
    static let maxRecentSteps = 64

    private struct State {
        var workerID = ""
        var capabilities = Tessera_V1_WorkerCapabilities()
        var activeSessions: UInt32 = 0
        var readyShards: [Tessera_V1_ShardRef] = []
        var recentSteps: [Tessera_V1_StepTiming] = []
        var recentLinks: [Tessera_V1_LinkTiming] = []
    }

    private let state = Mutex(State())

    init(workerID: String = "") {
        state.withLock { $0.workerID = workerID }
    }

    var workerID: String {
        get { state.withLock { $0.workerID } }
        set { state.withLock { $0.workerID = newValue } }
    }

    var capabilities: Tessera_V1_WorkerCapabilities {
        state.withLock { $0.capabilities }
    }

    /// Shards loaded and able to serve `Forward`, sorted by hash (cached files that are not
    /// loaded are not listed).
    var readyShards: [Tessera_V1_ShardRef] {
        get { state.withLock { $0.readyShards } }
        set { state.withLock { $0.readyShards = newValue.sorted { $0.sha256 < $1.sha256 } } }
    }

    /// Runs the built-in benchmark and records the figures the scheduler will see.
    func measureCapabilities(memoryBudget: UInt64, threads: Int) -> Tessera_V1_WorkerCapabilities {
        let probe = HardwareProbe.measure()
        var capabilities = Tessera_V1_WorkerCapabilities()
        capabilities.memoryBytes = memoryBudget
        capabilities.cpuCount = UInt32(threads)
        capabilities.computeGflops = probe.gflopsPerThread * Double(threads)
        capabilities.memoryBandwidthGbps = probe.memoryBandwidthGBps
        capabilities.decodeGbps = HardwareProbe.measureDecode(threads: threads)
        capabilities.version = "tessera-worker/0.1"
        state.withLock { $0.capabilities = capabilities }
        return capabilities
    }

    func sessionOpened() {
        state.withLock { $0.activeSessions += 1 }
    }

    func sessionClosed() {
        state.withLock { $0.activeSessions -= min($0.activeSessions, 1) }
    }

    var activeSessions: UInt32 { state.withLock { $0.activeSessions } }

    /// Records one forward call of a hosted stage for the scheduler's speed estimates.
    func recordStep(layers: Range<Int>, tokens: Int, seconds: Double, weightBytes: Int) {
        let timing = Tessera_V1_StepTiming.with {
            $0.layers = .with {
                $0.first = UInt32(layers.lowerBound)
                $0.last = UInt32(layers.upperBound)
            }
            $0.tokens = UInt32(tokens)
            $0.seconds = seconds
            $0.weightBytes = UInt64(weightBytes)
        }
        state.withLock {
            $0.recentSteps.append(timing)
            if $0.recentSteps.count > Self.maxRecentSteps { $0.recentSteps.removeFirst($0.recentSteps.count - Self.maxRecentSteps) }
        }
    }

    /// Records one decode step's hop to the next stage for the scheduler's link estimates.
    func recordLink(to workerID: String, roundTrip seconds: Double, bytes: Int) {
        guard !workerID.isEmpty else { return }
        let timing = Tessera_V1_LinkTiming.with {
            $0.toWorkerID = workerID
            $0.roundTripSeconds = seconds
            $0.bytes = UInt64(bytes)
        }
        state.withLock {
            $0.recentLinks.append(timing)
            if $0.recentLinks.count > Self.maxRecentSteps { $0.recentLinks.removeFirst($0.recentLinks.count - Self.maxRecentSteps) }
        }
    }

    /// The current load, with the step timings recorded since the last heartbeat. A
    /// heartbeat passes `draining: true` so each timing is reported once.
    func load(draining: Bool = false) -> Tessera_V1_WorkerLoad {
        var load = Tessera_V1_WorkerLoad()
        state.withLock {
            load.activeSessions = $0.activeSessions
            load.recentSteps = $0.recentSteps
            load.recentLinks = $0.recentLinks
            if draining {
                $0.recentSteps.removeAll()
                $0.recentLinks.removeAll()
            }
        }
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
