import Foundation
import ServiceKit
import Synchronization

/// Every worker the scheduler knows, with its capabilities, load and last heartbeat.
/// Workers that stop sending heartbeats for `expiry` are dropped by `expire(now:)`.
final class WorkerRegistry: Sendable {
    struct Entry: Sendable {
        var worker: RegisteredWorker
        var lastHeartbeat: ContinuousClock.Instant
        /// Step timings reported since the plan loop last took them.
        var unreadSteps: [StepTiming] = []
        var unreadLinks: [LinkTiming] = []
    }

    private struct State {
        var workers: [String: Entry] = [:]
        /// Registrations accepted so far (each worker's `registration` is its number).
        var registrations: UInt64 = 0
    }

    private let state = Mutex(State())
    let expiry: Duration
    /// Signalled when a worker joins or leaves, so the plan loop re-plans at once.
    let membershipChanged = WakeSignal()

    init(expiry: Duration) {
        self.expiry = expiry
    }

    /// Registers a worker under the id it asked for and returns it. Workers own their ids
    /// (generated once, kept in their state directory), so the registry only guards them: a
    /// live id (a heartbeat within `expiry`) is refused to a worker at another address, while
    /// the same address re-registering (a restart, or a heartbeat that got NOT_FOUND) keeps it,
    /// and an expired registration gives the id up. A request without an id (a client older
    /// than worker-owned ids) keeps the id already registered from its address, else gets a
    /// random one that no live worker holds.
    func register(
        address: ListenAddress, capabilities: WorkerCapabilities, requestedID: String,
        readyShards: [ShardReference], now: ContinuousClock.Instant = .now
    ) throws(SchedulerError) -> String {
        let id = try state.withLock { state throws(SchedulerError) in
            let atAddress = state.workers.filter { $0.value.worker.address == address }.map(\.key)
            let id =
                requestedID.isEmpty
                ? atAddress.first ?? Self.unusedID(in: state.workers) : requestedID
            if let holder = state.workers[id], holder.worker.address != address {
                let age = now - holder.lastHeartbeat
                if age <= expiry {
                    throw .workerIDInUse(
                        id: id, address: holder.worker.address, heartbeatAge: age)
                }
            }
            // One address, one worker: a worker restarted there under another id replaces it.
            for other in atAddress where other != id { state.workers.removeValue(forKey: other) }
            state.registrations += 1
            let worker = RegisteredWorker(
                id: id, address: address, capabilities: capabilities, readyShards: readyShards,
                reputation: state.workers[id]?.worker.reputation ?? 1,
                registration: state.registrations)
            state.workers[id] = Entry(worker: worker, lastHeartbeat: now)
            return id
        }
        membershipChanged.signal()
        return id
    }

    private static func unusedID(in workers: [String: Entry]) -> String {
        while true {
            // The same shape as the ids workers make for themselves (WorkerIdentity).
            let id = RandomID.make(prefix: "w-", digits: 12)
            if workers[id] == nil { return id }
        }
    }

    func heartbeat(
        workerID: String, load: WorkerLoad, readyShards: [ShardReference],
        now: ContinuousClock.Instant = .now
    ) throws(SchedulerError) {
        try state.withLock { state throws(SchedulerError) in
            guard var entry = state.workers[workerID] else { throw .unknownWorker(workerID) }
            entry.worker.load = load
            entry.unreadSteps.append(contentsOf: load.recentSteps)
            if entry.unreadSteps.count > Self.maxUnreadSteps {
                entry.unreadSteps.removeFirst(entry.unreadSteps.count - Self.maxUnreadSteps)
            }
            entry.unreadLinks.append(contentsOf: load.recentLinks)
            if entry.unreadLinks.count > Self.maxUnreadSteps {
                entry.unreadLinks.removeFirst(entry.unreadLinks.count - Self.maxUnreadSteps)
            }
            entry.worker.readyShards = readyShards
            entry.worker.lastHeartbeat = Date()
            entry.lastHeartbeat = now
            state.workers[workerID] = entry
        }
    }

    /// The worker unloaded `sha256` at our request: stop listing it until a heartbeat says otherwise.
    func forgetReadyShard(_ sha256: String, on workerID: String) {
        state.withLock {
            $0.workers[workerID]?.worker.readyShards.removeAll { $0.sha256 == sha256 }
        }
    }

    /// Drops a worker at once (it failed a health check after a client reported it), if it is
    /// still the registration `registration` (when given): a worker that registered again since
    /// then is not the one that was checked. Returns whether it was dropped.
    @discardableResult
    func remove(_ workerID: String, registration: UInt64? = nil) -> Bool {
        let removed = state.withLock { state in
            guard let entry = state.workers[workerID],
                registration.map({ $0 == entry.worker.registration }) ?? true
            else { return false }
            state.workers.removeValue(forKey: workerID)
            return true
        }
        if removed { membershipChanged.signal() }
        return removed
    }

    func worker(_ workerID: String) -> RegisteredWorker? {
        state.withLock { $0.workers[workerID]?.worker }
    }

    /// Drops workers whose last heartbeat is older than `expiry`; returns their ids.
    func expire(now: ContinuousClock.Instant = .now) -> [String] {
        let expired = state.withLock { state in
            let expired = state.workers.filter { now - $0.value.lastHeartbeat > expiry }.map(\.key)
                .sorted()
            for id in expired { state.workers.removeValue(forKey: id) }
            return expired
        }
        if !expired.isEmpty { membershipChanged.signal() }
        return expired
    }

    static let maxUnreadSteps = 256

    /// The step and hop timings each worker reported since the last call (each timing once,
    /// however the heartbeat and the plan loop's tick interleave), by worker id.
    func takeUnreadTimings() -> (steps: [String: [StepTiming]], links: [String: [LinkTiming]]) {
        state.withLock { state in
            var steps: [String: [StepTiming]] = [:]
            var links: [String: [LinkTiming]] = [:]
            for id in state.workers.keys {
                steps[id] = state.workers[id]?.unreadSteps
                links[id] = state.workers[id]?.unreadLinks
                state.workers[id]?.unreadSteps.removeAll()
                state.workers[id]?.unreadLinks.removeAll()
            }
            return (steps, links)
        }
    }

    func workers() -> [RegisteredWorker] {
        state.withLock { $0.workers.values.map(\.worker) }.sorted { $0.id < $1.id }
    }

    var count: Int { state.withLock { $0.workers.count } }
}
