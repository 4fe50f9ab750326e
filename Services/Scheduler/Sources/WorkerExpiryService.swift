import Logging
import Metrics
import ServiceLifecycle

/// Sweeps the registry a few times per expiry period and logs each worker it drops.
struct WorkerExpiryService: Service {
    let registry: WorkerRegistry
    let logger: Logger

    func run() async throws {
        let period = registry.expiry / 4
        while !Task.isShuttingDownGracefully {
            try? await Task.sleep(for: period)
            for id in registry.expire() {
                logger.warning("worker expired", metadata: ["worker": "\(id)"])
                Counter(label: "tessera_scheduler_workers_expired_total").increment()
            }
            Gauge(label: "tessera_scheduler_workers").record(registry.count)
            if Task.isCancelled { return }
        }
    }
}
