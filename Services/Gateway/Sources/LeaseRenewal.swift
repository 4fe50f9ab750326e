import GRPCCore
import Logging
import ServiceKit
import ServiceLifecycle
import Synchronization
import TesseraProto

/// Keeps the leases of running generations alive at the scheduler: every third of the
/// shortest lease TTL it renews them all in one `RenewLeases` call. A gateway that crashes
/// stops renewing, and the scheduler releases its leases once their TTL runs out, so
/// pipelines do not stay "busy" (or draining) for requests that no longer exist.
final class LeaseRenewal: Service, Sendable {
    private let scheduler: Tessera_V1_Scheduler.Client<TesseraClientTransport>
    private let logger: Logger
    /// Lease id → its TTL.
    private let held = Mutex<[String: Duration]>([:])
    private let changed = WakeSignal()

    init(scheduler: Tessera_V1_Scheduler.Client<TesseraClientTransport>, logger: Logger) {
        self.scheduler = scheduler
        self.logger = logger
    }

    func hold(_ leaseID: String, ttl: Duration) {
        guard !leaseID.isEmpty, ttl > .zero else { return }
        let added = held.withLock { $0.updateValue(ttl, forKey: leaseID) == nil }
        if added { GatewayMetrics.heldLeases.increment() }
        changed.signal()
    }

    func drop(_ leaseID: String) {
        let removed = held.withLock { $0.removeValue(forKey: leaseID) != nil }
        if removed { GatewayMetrics.heldLeases.decrement() }
    }

    var heldLeases: Int { held.withLock { $0.count } }

    func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                let (ids, ttl) = self.held.withLock { ($0.keys.sorted(), $0.values.min()) }
                // Nothing held: wait for a lease (or a minute); else renew well inside the TTL.
                await self.changed.wait(upTo: ttl.map { $0 / 3 } ?? .seconds(60))
                guard ttl != nil, !Task.isCancelled else { continue }
                await self.renew(ids)
            }
        }
    }

    private func renew(_ ids: [String]) async {
        let current = held.withLock { held in ids.filter { held[$0] != nil } }
        guard !current.isEmpty else { return }
        do {
            let response = try await scheduler.renewLeases(
                .with { $0.leaseIds = current }, options: .timeout(.seconds(5)))
            if !response.unknownLeaseIds.isEmpty {
                // Expired or lost with a scheduler restart: the generation keeps its session
                // (the workers do not need the lease); stop renewing what is gone.
                for id in response.unknownLeaseIds { drop(id) }
                logger.notice(
                    "the scheduler no longer knows some leases",
                    metadata: ["leases": "\(response.unknownLeaseIds.count)"])
            }
        } catch {
            logger.debug("lease renewal failed", metadata: ["error": "\(error)"])
        }
    }
}
