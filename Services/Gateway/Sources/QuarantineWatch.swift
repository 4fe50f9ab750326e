import Logging
import ServiceKit
import ServiceLifecycle
import Synchronization
import TesseraProto

/// Which workers the verifier has quarantined, as the scheduler reports them (`ListWorkers`),
/// refreshed every `interval`. A generation whose pipeline runs through one fails over at its
/// next step, as for a dead worker: a quarantined worker keeps running and cannot be trusted
/// to end its own sessions when the scheduler unloads its shards.
final class QuarantineWatch: Service, Sendable {
    private let scheduler: Tessera_V1_Scheduler.Client<TesseraClientTransport>
    private let interval: Duration
    private let logger: Logger
    private let quarantined = Mutex<Set<String>>([])

    init(
        scheduler: Tessera_V1_Scheduler.Client<TesseraClientTransport>,
        interval: Duration = .seconds(1), logger: Logger
    ) {
        self.scheduler = scheduler
        self.interval = interval
        self.logger = logger
    }

    /// The first of `workerIDs` that is quarantined now.
    func firstQuarantined(among workerIDs: [String]) -> String? {
        quarantined.withLock { set in workerIDs.first(where: set.contains) }
    }

    func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                await self.refresh()
                try? await Task.sleep(for: self.interval)
            }
        }
    }

    /// One poll; an unreachable scheduler keeps the last known set.
    func refresh() async {
        guard
            let workers = try? await scheduler.listWorkers(.init(), options: .timeout(.seconds(5)))
                .workers
        else { return }
        let now = Set(workers.filter(\.quarantined).map(\.workerID))
        let added = quarantined.withLock { set -> Set<String> in
            defer { set = now }
            return now.subtracting(set)
        }
        for worker in added.sorted() {
            logger.warning(
                "worker quarantined: generations on it fail over", metadata: ["worker": "\(worker)"]
            )
        }
    }
}
