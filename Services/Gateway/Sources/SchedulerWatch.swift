import Logging
import ServiceKit
import ServiceLifecycle
import Synchronization
import TesseraProto

/// Watches whether the scheduler answers, so the gateway tells the truth about it: while it
/// does not, new requests fail at once (503, retry shortly) instead of waiting out the
/// pipeline wait limit, and the gateway reports NOT_SERVING (`/readyz`, gRPC health), so a
/// load balancer sends apps elsewhere. Generations already running keep their pipelines:
/// they talk to workers, not to the scheduler.
final class SchedulerWatch: Service, Sendable {
    private let scheduler: TesseraGRPCClient
    private let health: HealthStatusStore
    private let healthNames: [String]
    private let interval: Duration
    private let logger: Logger
    /// Probes that must fail in a row before the scheduler counts as gone: one slow answer on
    /// a loaded machine is not an outage.
    static let failuresToDeclareLost = 3

    private struct State {
        var reachable = true
        var failuresInARow = 0
        var unreachableSince: ContinuousClock.Instant?
        /// Whether this watch took SERVING away (so it gives it back, and only then).
        var withdrewServing = false
    }
    private let state = Mutex(State())

    init(
        scheduler: TesseraGRPCClient, health: HealthStatusStore, healthNames: [String],
        interval: Duration = .seconds(1), logger: Logger
    ) {
        self.scheduler = scheduler
        self.health = health
        self.healthNames = healthNames
        self.interval = interval
        self.logger = logger
    }

    /// False once a probe found the scheduler unreachable, until one finds it back.
    var isReachable: Bool { state.withLock { $0.reachable } }

    func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                let answered = await HealthProbe.isServing(self.scheduler)
                self.record(answered: answered)
                try? await Task.sleep(for: self.interval)
            }
        }
    }

    private func record(answered: Bool) {
        let now = ContinuousClock.now
        let change = state.withLock { state -> (lost: Bool, outage: Duration?)? in
            state.failuresInARow = answered ? 0 : state.failuresInARow + 1
            if answered == state.reachable { return nil }
            if !answered && state.failuresInARow < Self.failuresToDeclareLost { return nil }
            state.reachable = answered
            if answered {
                defer { state.unreachableSince = nil }
                return (false, state.unreachableSince.map { now - $0 })
            }
            state.unreachableSince = now
            return (true, nil)
        }
        guard let change else { return }
        if change.lost {
            // Only a gateway that was serving stops: before readiness there is nothing to withdraw.
            let withdraw = health.status(of: "") == .serving
            state.withLock { $0.withdrewServing = withdraw }
            if withdraw { setServing(false) }
            logger.warning("scheduler unreachable: new requests get 503 until it answers again")
        } else {
            if state.withLock({ $0.withdrewServing }) { setServing(true) }
            state.withLock { $0.withdrewServing = false }
            logger.notice(
                "scheduler reachable again",
                metadata: ["outage_ms": "\(change.outage?.inMilliseconds ?? 0)"])
        }
    }

    private func setServing(_ serving: Bool) {
        let status: HealthStatusStore.Status = serving ? .serving : .notServing
        health.set(status)
        for name in healthNames { health.set(status, for: name) }
    }
}
