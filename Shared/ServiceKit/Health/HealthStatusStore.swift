import Foundation
import Synchronization

/// Serving status per service name ("" is the whole server), shared by the gRPC health
/// service and the HTTP `/readyz` endpoint. Watchers get every change.
public final class HealthStatusStore: Sendable {
    public enum Status: Sendable, Equatable {
        case serving, notServing
    }

    private struct State {
        var statuses: [String: Status] = [:]
        var watchers: [UUID: (service: String, continuation: AsyncStream<Status?>.Continuation)] =
            [:]
    }

    private let state = Mutex(State())

    public init() {}

    public func status(of service: String) -> Status? {
        state.withLock { $0.statuses[service] }
    }

    /// Marks `service` (and, when `service` is empty, the whole server) with `status`.
    public func set(_ status: Status, for service: String = "") {
        let toNotify = state.withLock { state -> [AsyncStream<Status?>.Continuation] in
            state.statuses[service] = status
            return state.watchers.values.filter { $0.service == service }.map(\.continuation)
        }
        for continuation in toNotify { continuation.yield(status) }
    }

    /// Marks every known service NOT_SERVING: used when shutdown begins so load balancers drain.
    public func markAllNotServing() {
        let names = state.withLock { Array($0.statuses.keys) }
        for name in names { set(.notServing, for: name) }
    }

    /// Ends every Watch stream (after their last update), so graceful shutdown is not held
    /// open by health watchers that would otherwise never finish.
    public func finishWatchers() {
        let continuations = state.withLock { state in
            defer { state.watchers.removeAll() }
            return state.watchers.values.map(\.continuation)
        }
        for continuation in continuations { continuation.finish() }
    }

    /// A stream of the service's status, starting with the current one (nil = unknown).
    public func watch(_ service: String) -> AsyncStream<Status?> {
        watchUntilStopped(service).updates
    }

    /// `watch`, with a function that ends the stream (when its watcher goes away).
    public func watchUntilStopped(_ service: String) -> (
        updates: AsyncStream<Status?>, stop: @Sendable () -> Void
    ) {
        let (stream, continuation) = AsyncStream<Status?>.makeStream(
            bufferingPolicy: .bufferingNewest(8))
        let id = UUID()
        let current = state.withLock { state -> Status? in
            state.watchers[id] = (service, continuation)
            return state.statuses[service]
        }
        continuation.yield(current)
        continuation.onTermination = { [weak self] _ in
            _ = self?.state.withLock { $0.watchers.removeValue(forKey: id) }
        }
        return (stream, { continuation.finish() })
    }
}
