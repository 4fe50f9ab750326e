import GRPCCore
import Logging
import ServiceKit
import ServiceLifecycle
import TesseraProto

/// Keeps the registry's reputations current: every `interval` it reads the verifier's
/// ListReputations and stores each worker's score and whether it is quarantined, and logs
/// each registered worker the verifier quarantines or releases (the plan loop does the rest).
/// The verifier is advisory to the scheduler: one that is down, hangs, or does not serve
/// reputations yet (UNIMPLEMENTED) never holds anything up. Its failure is logged once, when
/// it starts (and its end once), and the last known reputations stay in force meanwhile.
struct ReputationPoller: Service {
    let verifier: Tessera_V1_Verifier.Client<TesseraClientTransport>
    let registry: WorkerRegistry
    let interval: Duration
    let logger: Logger
    /// A verifier that accepts the call but does not answer is as good as down.
    var callTimeout: Duration = .seconds(5)

    func run() async throws {
        // Cancelled at shutdown: a sleep or a call in flight ends at once.
        await cancelWhenGracefulShutdown { await poll() }
    }

    private func poll() async {
        var failing = false
        while !Task.isCancelled {
            do {
                let response = try await verifier.listReputations(
                    .init(), options: .timeout(callTimeout))
                if failing {
                    failing = false
                    logger.notice("verifier reputations available again")
                }
                apply(response.reputations)
            } catch {
                if Task.isCancelled { return }
                if !failing {
                    failing = true
                    logger.warning(
                        "cannot read reputations from the verifier; keeping the last known ones",
                        metadata: ["error": "\(error)"])
                }
            }
            try? await Task.sleep(for: interval)
        }
    }

    private func apply(_ reputations: [Tessera_V1_Reputation]) {
        let byWorker = Dictionary(
            reputations.map { ($0.workerID, WorkerReputation($0)) }, uniquingKeysWith: { $1 })
        for worker in registry.updateReputations(byWorker) {
            let metadata: Logger.Metadata = [
                "worker": "\(worker.id)", "reputation": "\(worker.reputation)",
            ]
            if worker.quarantined {
                logger.warning(
                    "worker quarantined by the verifier: its pipelines are replaced and its shards unloaded",
                    metadata: metadata)
            } else {
                logger.warning(
                    "worker released from quarantine by the verifier: it may be placed again",
                    metadata: metadata)
            }
        }
    }
}
