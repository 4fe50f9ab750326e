import Foundation
import ServiceKit
import Synchronization

/// Every worker the scheduler knows, with its capabilities, load and last heartbeat.
/// Workers that stop sending heartbeats for `expiry` are dropped by `expire(now:)`.
///
/// Each id is pinned to the Ed25519 public key it first registered with: workers are
/// untrusted, and the verifier holds an id to the commitments that key signed, so another
/// key under the same id would be another worker borrowing its record. The scheduler keeps
/// pins in memory: they outlive a worker's expiry (a dead worker's id stays pinned while the
/// scheduler runs) but not a scheduler restart; the verifier's pins are durable. Only an
/// operator's `forget` (RemoveWorker) unpins an id.
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
        /// The key each id first registered with, whether or not the worker is still here.
        var pins: [String: [UInt8]] = [:]
        /// What the verifier last said, by worker id (also of workers not registered now, so
        /// a quarantined worker that registers again is quarantined from its first moment).
        var reputations: [String: WorkerReputation] = [:]
    }

    private let state = Mutex(State())
    let expiry: Duration
    /// Signalled when a worker joins or leaves, or is quarantined or released, so the plan
    /// loop re-plans at once.
    let membershipChanged = WakeSignal()

    init(expiry: Duration) {
        self.expiry = expiry
    }

    /// Registers a worker under the id it asked for and returns it. Workers own their ids
    /// (generated once, kept in their state directory), so the registry only guards them: a
    /// live id (a heartbeat within `expiry`) is refused to a worker at another address, while
    /// the same address re-registering (a restart, or a heartbeat that got NOT_FOUND) keeps it,
    /// and an expired registration gives the id up. A request without an id (a client older
    /// than worker-owned ids) keeps the id already registered from its address (if pinned to
    /// its key), else gets a random one that no worker holds or pinned.
    ///
    /// An id pinned to another key is refused (`keyMismatch`), at any address; a live id at
    /// another address is refused first as `workerIDInUse`, which says more (two workers
    /// started with one id). The service requires a 32-byte key; the empty default is for
    /// tests that drive the registry directly.
    func register(
        address: ListenAddress, capabilities: WorkerCapabilities, requestedID: String,
        publicKey: [UInt8] = [], readyShards: [ShardReference],
        now: ContinuousClock.Instant = .now
    ) throws(SchedulerError) -> String {
        let id = try state.withLock { state throws(SchedulerError) in
            let atAddress = state.workers.filter { $0.value.worker.address == address }.map(\.key)
            let id =
                requestedID.isEmpty
                ? atAddress.first { state.pins[$0] == publicKey } ?? Self.unusedID(in: state)
                : requestedID
            if let holder = state.workers[id], holder.worker.address != address {
                let age = now - holder.lastHeartbeat
                if age <= expiry {
                    throw .workerIDInUse(
                        id: id, address: holder.worker.address, heartbeatAge: age)
                }
            }
            if let pinned = state.pins[id], pinned != publicKey {
                throw .keyMismatch(id: id, pinnedKey: pinned)
            }
            state.pins[id] = publicKey
            // One address, one worker: a worker restarted there under another id replaces it.
            for other in atAddress where other != id { state.workers.removeValue(forKey: other) }
            state.registrations += 1
            let reputation = state.reputations[id] ?? .unscored
            let worker = RegisteredWorker(
                id: id, address: address, capabilities: capabilities, readyShards: readyShards,
                reputation: reputation.score, quarantined: reputation.quarantined,
                registration: state.registrations)
            state.workers[id] = Entry(worker: worker, lastHeartbeat: now)
            return id
        }
        membershipChanged.signal()
        return id
    }

    private static func unusedID(in state: State) -> String {
        while true {
            // The same shape as the ids workers make for themselves (WorkerIdentity).
            let id = RandomID.make(prefix: "w-", digits: 12)
            if state.workers[id] == nil && state.pins[id] == nil { return id }
        }
    }

    func heartbeat(
        workerID: String, load: WorkerLoad, readyShards: [ShardReference],
        shardCache: ShardCacheReport? = nil, now: ContinuousClock.Instant = .now
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
            if let shardCache { entry.worker.shardCache = shardCache }
            entry.worker.lastHeartbeat = Date()
            entry.lastHeartbeat = now
            state.workers[workerID] = entry
        }
    }

    /// The worker reported its session slots with a shard it loaded (before its next heartbeat).
    func recordSessionSlots(_ slots: Int, of workerID: String) {
        guard slots > 0 else { return }
        state.withLock { $0.workers[workerID]?.worker.load.sessionSlots = slots }
    }

    /// Session slots by worker id (0: not limited), for routing.
    func sessionSlots() -> [String: Int] {
        state.withLock { state in state.workers.mapValues(\.worker.sessionSlots) }
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

    /// An operator removes a worker (RemoveWorker): it is dropped as if it expired, and its
    /// id is unpinned, so a worker with another key may take the id. A worker still running
    /// under the id registers again at its next heartbeat, pinning its key anew. Returns
    /// whether the id was registered or pinned.
    func forget(_ workerID: String) -> Bool {
        let (registered, pinned) = state.withLock { state in
            (
                state.workers.removeValue(forKey: workerID) != nil,
                state.pins.removeValue(forKey: workerID) != nil
            )
        }
        if registered { membershipChanged.signal() }
        return registered || pinned
    }

    /// Takes the verifier's latest word on every worker it knows (a worker it does not list
    /// is unscored) and returns the registered workers whose quarantine it changed. A change
    /// wakes the plan loop: a quarantined worker leaves placement like a dead one.
    func updateReputations(_ reputations: [String: WorkerReputation]) -> [RegisteredWorker] {
        let changed = state.withLock { state in
            state.reputations = reputations
            var changed: [RegisteredWorker] = []
            for id in state.workers.keys.sorted() {
                guard var worker = state.workers[id]?.worker else { continue }
                let reputation = reputations[id] ?? .unscored
                let flipped = worker.quarantined != reputation.quarantined
                worker.reputation = reputation.score
                worker.quarantined = reputation.quarantined
                state.workers[id]?.worker = worker
                if flipped { changed.append(worker) }
            }
            return changed
        }
        if !changed.isEmpty { membershipChanged.signal() }
        return changed
    }

    /// The workers a pipeline may use: registered and not quarantined.
    func placeableIDs() -> Set<String> {
        state.withLock { state in
            Set(state.workers.values.map(\.worker).filter { !$0.quarantined }.map(\.id))
        }
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
