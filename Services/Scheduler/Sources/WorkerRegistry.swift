import Foundation
import ServiceKit
import Synchronization
import TesseraProto

/// Every worker the scheduler knows, with its capabilities, load and last heartbeat.
/// Workers that stop sending heartbeats for `expiry` are dropped by `expire(now:)`.
public final class WorkerRegistry: Sendable {
    public struct Entry: Sendable {
        public var info: Tessera_V1_WorkerInfo
        public var lastHeartbeat: ContinuousClock.Instant
        /// Step timings reported since the plan loop last took them.
        var unreadSteps: [Tessera_V1_StepTiming] = []
        var unreadLinks: [Tessera_V1_LinkTiming] = []
    }

    public enum RegistryError: Error, Equatable {
        case unknownWorker(String)
    }

    private struct State {
        var workers: [String: Entry] = [:]
        var nextNumber = 1
    }

    private let state = Mutex(State())
    public let expiry: Duration
    /// Signalled when a worker joins or leaves, so the plan loop re-plans at once.
    public let membershipChanged = WakeSignal()

    public init(expiry: Duration) {
        self.expiry = expiry
    }

    /// Registers a worker and returns its id. A worker re-registering from the same address
    /// (a restart, or a heartbeat that got NOT_FOUND) keeps its id.
    public func register(
        address: String, capabilities: Tessera_V1_WorkerCapabilities, requestedID: String,
        readyShards: [Tessera_V1_ShardRef], now: ContinuousClock.Instant = .now
    ) -> String {
        let id = state.withLock { state in
            let existing = state.workers.first { $0.value.info.address == address }?.key
            let id: String
            if !requestedID.isEmpty {
                id = requestedID
            } else if let existing {
                id = existing
            } else {
                id = "worker-\(state.nextNumber)"
                state.nextNumber += 1
            }
            if let existing, existing != id { state.workers.removeValue(forKey: existing) }
            var info = Tessera_V1_WorkerInfo()
            info.workerID = id
            info.address = address
            info.capabilities = capabilities
            info.readyShards = readyShards
            info.lastHeartbeatUnixMs = Self.unixMilliseconds()
            info.reputation = state.workers[id]?.info.reputation ?? 1
            state.workers[id] = Entry(info: info, lastHeartbeat: now)
            return id
        }
        membershipChanged.signal()
        return id
    }

    public func heartbeat(
        workerID: String, load: Tessera_V1_WorkerLoad, readyShards: [Tessera_V1_ShardRef],
        now: ContinuousClock.Instant = .now
    ) throws(RegistryError) {
        try state.withLock { state throws(RegistryError) in
            guard var entry = state.workers[workerID] else { throw .unknownWorker(workerID) }
            entry.info.load = load
            entry.unreadSteps.append(contentsOf: load.recentSteps)
            if entry.unreadSteps.count > Self.maxUnreadSteps {
                entry.unreadSteps.removeFirst(entry.unreadSteps.count - Self.maxUnreadSteps)
            }
            entry.unreadLinks.append(contentsOf: load.recentLinks)
            if entry.unreadLinks.count > Self.maxUnreadSteps {
                entry.unreadLinks.removeFirst(entry.unreadLinks.count - Self.maxUnreadSteps)
            }
            entry.info.readyShards = readyShards
            entry.info.lastHeartbeatUnixMs = Self.unixMilliseconds()
            entry.lastHeartbeat = now
            state.workers[workerID] = entry
        }
    }

    /// The worker unloaded `sha256` at our request: stop listing it until a heartbeat says otherwise.
    public func forgetReadyShard(_ sha256: String, on workerID: String) {
        state.withLock { $0.workers[workerID]?.info.readyShards.removeAll { $0.sha256 == sha256 } }
    }

    /// Drops a worker at once (it failed a health check after a client reported it).
    public func remove(_ workerID: String) {
        _ = state.withLock { $0.workers.removeValue(forKey: workerID) }
        membershipChanged.signal()
    }

    public func worker(_ workerID: String) -> Tessera_V1_WorkerInfo? {
        state.withLock { $0.workers[workerID]?.info }
    }

    /// Drops workers whose last heartbeat is older than `expiry`; returns their ids.
    public func expire(now: ContinuousClock.Instant = .now) -> [String] {
        let expired = state.withLock { state in
            let expired = state.workers.filter { now - $0.value.lastHeartbeat > expiry }.map(\.key).sorted()
            for id in expired { state.workers.removeValue(forKey: id) }
            return expired
        }
        if !expired.isEmpty { membershipChanged.signal() }
        return expired
    }

    static let maxUnreadSteps = 256

    /// The step and hop timings each worker reported since the last call (each timing once,
    /// however the heartbeat and the plan loop's tick interleave), by worker id.
    public func takeUnreadTimings() -> (steps: [String: [Tessera_V1_StepTiming]], links: [String: [Tessera_V1_LinkTiming]]) {
        state.withLock { state in
            var steps: [String: [Tessera_V1_StepTiming]] = [:]
            var links: [String: [Tessera_V1_LinkTiming]] = [:]
            for id in state.workers.keys {
                steps[id] = state.workers[id]?.unreadSteps
                links[id] = state.workers[id]?.unreadLinks
                state.workers[id]?.unreadSteps.removeAll()
                state.workers[id]?.unreadLinks.removeAll()
            }
            return (steps, links)
        }
    }

    public func workers() -> [Tessera_V1_WorkerInfo] {
        state.withLock { $0.workers.values.map(\.info) }.sorted { $0.workerID < $1.workerID }
    }

    public var count: Int { state.withLock { $0.workers.count } }

    static func unixMilliseconds() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }
}
