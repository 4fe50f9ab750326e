import Logging
import Metrics
import Placement
import ServiceKit

/// Planning every served model over the workers' shared memory, evicting to make room.
extension PlanLoop {
    /// Plans every model in `plannedInOrder`, each over what the earlier ones left. A model
    /// that does not fit makes room by evicting idle unpinned models (GreedyDualSizeFrequency
    /// chooses; never one in use, pinned, loading or inside its keep-alive); when nothing can
    /// make room it is refused (cold, with the reason requests are then told). A pinned model
    /// that does not fit keeps its current plan, as the default model always did.
    func replan(
        _ cache: inout ServingCache, profiles: [WorkerProfile], workers: [RegisteredWorker],
        links: LinkModel, reasons: [String: [ReplanReason]], speedsOnly: Bool
    ) async {
        let addresses = Dictionary(uniqueKeysWithValues: workers.map { ($0.id, $0.address) })
        let planner = SharedMemoryPlanner(
            links: links, contextLength: settings.contextLength,
            replicaLatencyFactor: settings.replicaLatencyFactor)
        let start = ContinuousClock.now
        // Bounded: each round evicts or refuses at least one model.
        for _ in 0...models.entries().count {
            let planned = plannedInOrder()
            let plannedKeys = Set(planned.map(\.key))
            var reserved: [String: Int] = [:]
            for entry in models.entries() where !plannedKeys.contains(entry.key) {
                for (worker, bytes) in await entry.pipelines.memoryByWorker() {
                    reserved[worker, default: 0] += bytes
                }
            }
            var demands: [SharedMemoryPlanner.Demand] = []
            for entry in planned {
                // One model alone takes what the optimizer gives it (as with one model
                // always); several keep their plans where they still fit.
                demands.append(
                    SharedMemoryPlanner.Demand(
                        key: entry.key, profile: entry.model.profile,
                        quality: entry.quality?.budget,
                        maxPipelines: planned.count == 1
                            ? settings.maxPipelines
                            : min(
                                settings.maxPipelines, max(entry.pinReplicas, entry.targetReplicas)),
                        current: planned.count == 1 ? nil : await entry.pipelines.plan))
            }
            let results = planner.plan(demands, workers: profiles, reserved: reserved)
            var used = reserved
            var failed: (entry: ServedModels.Entry, error: any Error)?
            for (entry, outcome) in zip(planned, results) {
                switch outcome.result {
                case .success(let plan):
                    for (worker, bytes) in PlanMemory.byWorker(plan.pipelines) {
                        used[worker, default: 0] += bytes
                    }
                case .failure(let error):
                    if entry.isPinned {
                        // Kept as it was; its memory stays taken.
                        for (worker, bytes) in await entry.pipelines.memoryByWorker() {
                            used[worker, default: 0] += bytes
                        }
                        logger.warning(
                            "no feasible placement",
                            metadata: [
                                "model": "\(entry.name)", "workers": "\(profiles.count)",
                                "error": "\(error)",
                            ])
                    } else if failed == nil {
                        failed = (entry, error)
                    }
                }
            }
            guard let failed else {
                for (entry, outcome) in zip(planned, results) {
                    guard case .success(let plan) = outcome.result else { continue }
                    await install(
                        plan, for: entry, addresses: addresses, profiles: profiles, links: links,
                        reasons: reasons[entry.key] ?? [], speedsOnly: speedsOnly,
                        solve: ContinuousClock.now - start)
                }
                return
            }
            let free = SharedMemoryPlanner.remaining(profiles, used: used)
                .reduce(0) { $0 + $1.memoryBudgetBytes }
            let need = PlanMemory.footprint(
                of: failed.entry.model.profile, contextLength: settings.contextLength,
                sessions: settings.sessionsPerWorker)
            let candidates = planned.filter { $0.key != failed.entry.key }
            let victims = await cache.victims(
                need: need, free: free, candidates: candidates, now: ContinuousClock.now)
            if let victims, !victims.isEmpty {
                for victim in candidates where victims.contains(victim.key) {
                    await evict(
                        victim, reason: "room for \(failed.entry.name)", cache: &cache,
                        now: .now)
                }
                continue
            }
            let protected = candidates.map(\.name).sorted()
            await refuse(
                failed.entry,
                reason: "it fits in no worker's free memory (needs about \(Self.mb(need)) MB, "
                    + "\(Self.mb(free)) MB free) and no idle unpinned model can be evicted"
                    + (protected.isEmpty
                        ? ""
                        : " (in use, pinned or kept alive: \(protected.joined(separator: ", ")))")
                    + "; placement: \(failed.error)",
                cache: &cache, now: .now)
        }
    }

    func install(
        _ plan: Plan, for entry: ServedModels.Entry, addresses: [String: ListenAddress],
        profiles: [WorkerProfile], links: LinkModel, reasons: [ReplanReason], speedsOnly: Bool,
        solve: Duration
    ) async {
        let adoption = PlanAdoption(minimumGain: settings.minimumGain)
        if speedsOnly, let current = await entry.pipelines.plan,
            let kept = adoption.repredicted(
                current, model: entry.model.profile, workers: profiles, links: links,
                quality: entry.quality?.budget),
            !adoption.worthAdopting(plan, over: kept)
        {
            // Same layout, today's speeds: nothing moves, and drift is measured from here.
            await entry.pipelines.install(
                kept, addresses: addresses, variants: entry.quality?.variantSHA256 ?? [:])
            logger.debug(
                "speed drift: plan kept",
                metadata: [
                    "model": "\(entry.name)",
                    "reasons": "\(reasons.map(\.description).joined(separator: "; "))",
                    "kept_ms_per_token": "\(kept.primary.secondsPerToken * 1000)",
                    "candidate_ms_per_token": "\(plan.primary.secondsPerToken * 1000)",
                ])
            return
        }
        let before = await entry.pipelines.plan
        await entry.pipelines.install(
            plan, addresses: addresses, variants: entry.quality?.variantSHA256 ?? [:])
        guard before != plan || !reasons.isEmpty else { return }
        logger.info(
            "placement planned",
            metadata: [
                "model": "\(entry.name)",
                "pipelines": "\(plan.pipelines.count)", "workers": "\(profiles.count)",
                "ms_per_token": "\(plan.primary.secondsPerToken * 1000)", "solve": "\(solve)",
                "measured_links": "\(links.pairLinks.values.reduce(0) { $0 + $1.count })",
                "reasons": "\(reasons.map(\.description).joined(separator: "; "))",
            ])
        Counter(label: "tessera_scheduler_replans_total").increment()
    }

    /// `profiles` with each worker's memory budget as `plan` assumed it.
    static func withBudgets(of plan: Plan, _ profiles: [WorkerProfile]) -> [WorkerProfile] {
        let assumed = Dictionary(
            plan.assumedWorkers.map { ($0.id, $0.memoryBudgetBytes) },
            uniquingKeysWith: { a, _ in a })
        return profiles.map { profile in
            var profile = profile
            if let budget = assumed[profile.id] { profile.memoryBudgetBytes = budget }
            return profile
        }
    }

    static func mb(_ bytes: Int) -> Int { max(0, bytes) / 1_000_000 }
}
