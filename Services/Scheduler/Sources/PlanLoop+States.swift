import Logging
import Placement
import ServiceKit

/// The fast loop's state changes (`ServingState`) the plan loop makes: readiness, timeouts,
/// idle evictions, evictions to make room and refusals.
extension PlanLoop {
    /// The fast loop's state changes that need no plan: loading → warm once a pipeline is
    /// ready (and back when every ready one is lost), a load that takes too long is given
    /// up, an unused model past its idle timeout is evicted, an evicted model whose
    /// pipelines drained is cold, and a pinned or wanted-again cold model loads.
    func advanceStates(_ cache: inout ServingCache, now: ContinuousClock.Instant) async {
        for entry in models.entries() {
            let (planned, ready) = await entry.pipelines.replicaCounts()
            let leases = await entry.pipelines.activeLeases
            switch entry.state {
            case .loading(let since):
                if ready > 0 {
                    if let loaded = models.becameReady(entry.key, now: now) {
                        ServingMetrics.coldStart(model: entry.name, seconds: loaded.inSeconds)
                        logger.info(
                            "model warm",
                            metadata: [
                                "model": "\(entry.name)", "load_seconds": "\(loaded.inSeconds)",
                                "pipelines": "\(planned)",
                            ])
                    }
                } else if now - since > settings.coldStartTimeout && !entry.isPinned {
                    await refuse(
                        entry,
                        reason:
                            "it did not load within \(settings.coldStartTimeout.inSeconds) s "
                            + "(--cold-start-timeout-s); workers may have failed while loading it",
                        cache: &cache, now: now)
                }
            case .warm:
                if ready == 0, await !entry.pipelines.hasDeployedPipeline() {
                    // Its pipelines were lost (a worker died): loading again. (A stage whose
                    // worker's heartbeat was older than its load is re-checked, not lost.)
                    models.update(entry.key) { $0.state = .loading(since: now) }
                } else if !entry.isPinned && leases == 0,
                    now - (entry.lastUsed ?? entry.warmSince ?? now)
                        > (entry.marks.idleTimeout ?? settings.idleTimeout)
                {
                    await evict(entry, reason: "idle", cache: &cache, now: now)
                }
            case .evicting:
                let holding = await entry.pipelines.memoryByWorker()
                if planned == 0 && leases == 0 && holding.isEmpty {
                    if entry.unserved {
                        models.remove(entry.key)
                        ServingMetrics.state(model: entry.name, state: .cold)
                        logger.info("model no longer served", metadata: ["model": "\(entry.name)"])
                        continue
                    }
                    models.update(entry.key) { $0.state = .cold }
                    if entry.reloadWanted { models.activate(entry.key, now: now) }
                }
            case .cold:
                if entry.isPinned && !entry.unserved { models.activate(entry.key, now: now) }
            }
            if let current = models.entry(entry.key) {
                ServingMetrics.state(model: entry.name, state: current.state)
                // (A model a request started loading enters the ranks here, once.)
                if current.state.isActive { cache.loaded(current, now: now, logger: logger) }
            }
        }
    }

    func evict(
        _ entry: ServedModels.Entry, reason: String, cache: inout ServingCache,
        now: ContinuousClock.Instant
    ) async {
        models.update(entry.key) { $0.state = .evicting }
        await entry.pipelines.retireAll()
        cache.evicted(entry.key, now: now)
        ServingMetrics.evicted(model: entry.name, reason: reason == "idle" ? "idle" : "room")
        ServingMetrics.state(model: entry.name, state: .evicting)
        logger.info("evicting model", metadata: ["model": "\(entry.name)", "reason": "\(reason)"])
    }

    /// A load that cannot succeed now: the model is cold again, and requests for it are told
    /// why (503 with Retry-After at the gateway) until `refusalHold` passes.
    func refuse(
        _ entry: ServedModels.Entry, reason: String, cache: inout ServingCache,
        now: ContinuousClock.Instant
    ) async {
        await entry.pipelines.retireAll()
        models.update(entry.key) {
            $0.state = .cold
            $0.refusal = ServingRefusal(reason: reason, until: now + settings.refusalHold)
        }
        cache.evicted(entry.key, now: now)
        ServingMetrics.refused(model: entry.name)
        ServingMetrics.state(model: entry.name, state: .cold)
        logger.warning(
            "model load refused", metadata: ["model": "\(entry.name)", "reason": "\(reason)"])
    }
}
