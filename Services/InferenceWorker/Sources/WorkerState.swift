import Foundation
import Inference
import Kernels
import ServiceKit
import Synchronization

/// What this worker knows about itself: its id once registered, measured capabilities,
/// its ready shards, its session slots and its current load (reported in heartbeats and
/// GetStatus).
final class WorkerState: Sendable {
    /// Step timings kept between heartbeats; older ones are dropped so a stalled scheduler
    /// link cannot grow memory without bound.
    static let maxRecentSteps = 64

    private struct State {
        var workerID = ""
        var capabilities = WorkerCapabilities()
        var readyShards: [ShardReference] = []
        var recentSteps: [StepTiming] = []
        var recentLinks: [LinkTiming] = []
    }

    private let state = Mutex(State())
    /// The sessions it serves at once, and those open now.
    let slots: SessionSlots

    init(workerID: String = "", maxSessions: Int = 0) {
        slots = SessionSlots(configured: maxSessions)
        state.withLock { $0.workerID = workerID }
    }

    var workerID: String {
        get { state.withLock { $0.workerID } }
        set { state.withLock { $0.workerID = newValue } }
    }

    /// What it measured, with its session slots now (a registration tells the scheduler both).
    var capabilities: WorkerCapabilities {
        var capabilities = state.withLock { $0.capabilities }
        capabilities.sessionSlots = slots.limit
        return capabilities
    }

    /// Shards loaded and able to serve `Forward`, sorted by hash (cached files that are not
    /// loaded are not listed).
    var readyShards: [ShardReference] {
        get { state.withLock { $0.readyShards } }
        set { state.withLock { $0.readyShards = newValue.sorted { $0.sha256 < $1.sha256 } } }
    }

    /// Runs the built-in benchmark and records the figures the scheduler will see.
    func measureCapabilities(memoryBudget: UInt64, threads: Int) -> WorkerCapabilities {
        let probe = HardwareProbe.measure()
        let capabilities = WorkerCapabilities(
            memoryBytes: memoryBudget, cpuCount: threads,
            computeGflops: probe.gflopsPerThread * Double(threads),
            memoryBandwidthGbps: probe.memoryBandwidthGBps,
            decodeGbps: HardwareProbe.measureDecode(threads: threads),
            version: "tessera-worker/0.1")
        state.withLock { $0.capabilities = capabilities }
        return self.capabilities
    }

    var activeSessions: Int { slots.inUse }

    /// Records one forward call of a hosted stage for the scheduler's speed estimates.
    func recordStep(layers: Range<Int>, tokens: Int, seconds: Double, weightBytes: Int) {
        let timing = StepTiming(
            layers: layers, tokens: tokens, seconds: seconds, weightBytes: UInt64(weightBytes))
        state.withLock {
            $0.recentSteps.append(timing)
            if $0.recentSteps.count > Self.maxRecentSteps {
                $0.recentSteps.removeFirst($0.recentSteps.count - Self.maxRecentSteps)
            }
        }
    }

    /// Records one decode step's hop to the next stage for the scheduler's link estimates.
    func recordLink(to workerID: String, roundTrip seconds: Double, bytes: Int) {
        guard !workerID.isEmpty else { return }
        let timing = LinkTiming(
            toWorkerID: workerID, roundTripSeconds: seconds, bytes: UInt64(bytes))
        state.withLock {
            $0.recentLinks.append(timing)
            if $0.recentLinks.count > Self.maxRecentSteps {
                $0.recentLinks.removeFirst($0.recentLinks.count - Self.maxRecentSteps)
            }
        }
    }

    /// The current load, with the step timings recorded since the last heartbeat. A
    /// heartbeat passes `draining: true` so each timing is reported once.
    func load(draining: Bool = false) -> WorkerLoad {
        var load = WorkerLoad(activeSessions: slots.inUse, sessionSlots: slots.limit)
        state.withLock {
            load.recentSteps = $0.recentSteps
            load.recentLinks = $0.recentLinks
            if draining {
                $0.recentSteps.removeAll()
                $0.recentLinks.removeAll()
            }
        }
        load.memoryUsedBytes = UInt64(ProcessMetrics.residentBytes())
        return load
    }
}
