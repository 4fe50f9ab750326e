import Logging
import Metrics
import Placement
import ServiceKit
import ServiceLifecycle

/// Keeps the plan current: loads the model manifest, re-plans when workers join, leave or
/// drift in speed (Placement.ReplanAdvisor), and deploys shards for stages not yet ready.
/// It looks at the registry twice a second, and at once when a worker joins or leaves
/// (a failover waits on the re-plan). A worker the verifier quarantined counts as gone: its
/// pipelines retire, the plan is made without it, and its shards are unloaded; released,
/// it joins again. Shard deployments run as children of a task group the loop owns, beside
/// its ticks; at shutdown the loop stops and cancels those in flight.
struct PlanLoop: Service {
    let registry: WorkerRegistry
    let pipelines: LivePipelines
    let source: ModelSource
    let deployer: ShardDeployer
    let model: OneShot<ServedModel>
    let settings: PlanSettings
    let logger: Logger

    func run() async throws {
        await withDiscardingTaskGroup { deployments in
            await loop(deployments: &deployments)
            deployments.cancelAll()
        }
    }

    private func loop(deployments: inout DiscardingTaskGroup) async {
        var observed = ObservedSpeeds()
        var lastWorkerSet: Set<String> = []
        var backoff = Backoff(initial: .milliseconds(200), maximum: .seconds(5))
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            var loaded = model.current
            if loaded == nil { loaded = await loadModel(&backoff) }
            guard let served = loaded else { continue }
            let registered = registry.workers()
            let workers = registered.filter { !$0.quarantined }
            let live = Set(workers.map(\.id))
            await pipelines.retire(workersNotIn: live)
            for worker in workers {
                await pipelines.markUnready(
                    workerID: worker.id, hosting: Set(worker.readyShards.map(\.sha256)))
            }
            let (steps, hops) = registry.takeUnreadTimings()
            // (Speeds of quarantined workers are kept, for when they are released.)
            observed.absorb(steps: steps, hops: hops, workers: registered)
            let profiles = observed.profiles(workers, expectedSessions: settings.sessionsPerWorker)
            let current = await pipelines.plan
            let reasons =
                current.map {
                    ReplanAdvisor(driftThreshold: settings.driftThreshold).reasons(
                        plan: $0, current: profiles)
                } ?? []
            if !profiles.isEmpty && (current == nil || live != lastWorkerSet || !reasons.isEmpty) {
                let speedsOnly =
                    current != nil && live == lastWorkerSet && reasons.allSatisfy(\.isSpeedDrift)
                await replan(
                    served, profiles: profiles, workers: workers,
                    links: observed.links(over: settings.links), reasons: reasons,
                    speedsOnly: speedsOnly)
                lastWorkerSet = live
            } else if profiles.isEmpty {
                lastWorkerSet = []
            }
            await unloadUnwanted(registered)
            await deployer.deployPending(model: served, in: &deployments)
            let expired = await pipelines.expireLeases(notRenewedWithin: settings.leaseTTL)
            if expired > 0 {
                logger.notice(
                    "leases expired: their holders stopped renewing them",
                    metadata: ["leases": "\(expired)"])
            }
            await registry.membershipChanged.wait(upTo: settings.tick)
        }
    }

    /// Shards a worker reports that no pipeline (planned or draining) wants there.
    /// Without a plan (the scheduler just started, or the workers so far cannot hold the
    /// model) nothing is unloaded: the shards workers kept are what the next plan will want.
    /// A quarantined worker keeps no shard, plan or not, even one a draining pipeline still
    /// holds leases on: its sessions must fail, so that the gateway fails them over to
    /// workers it can trust, as when a worker dies.
    private func unloadUnwanted(_ workers: [RegisteredWorker]) async {
        typealias Unload = (workerID: String, address: ListenAddress, sha256: String)
        let planned = await pipelines.plan != nil
        let wanted = await pipelines.wantedLayers()
        var unwanted: [Unload] = []
        var quarantined: [Unload] = []
        for worker in workers {
            for shard in worker.readyShards {
                if worker.quarantined {
                    quarantined.append((worker.id, worker.address, shard.sha256))
                } else if planned, wanted[worker.id]?.contains(shard.layers ?? 0..<0) != true {
                    // (A shard that names no layer range matches no stage.)
                    unwanted.append((worker.id, worker.address, shard.sha256))
                }
            }
        }
        for (message, shards) in [
            ("unloading shards no pipeline uses", unwanted),
            ("unloading the shards of quarantined workers", quarantined),
        ] where !shards.isEmpty {
            logger.info(
                "\(message)",
                metadata: ["shards": "\(shards.map { "\($0.workerID)/\($0.sha256.prefix(12))" })"])
        }
        guard !unwanted.isEmpty || !quarantined.isEmpty else { return }
        await deployer.unload(unwanted + quarantined, registry: registry)
    }

    private func loadModel(_ backoff: inout Backoff) async -> ServedModel? {
        do {
            let served = try await source.load()
            model.set(served)
            logger.info(
                "serving model",
                metadata: [
                    "model": "\(served.reference.name)", "sha256": "\(served.reference.sha256)",
                ])
            return served
        } catch {
            logger.notice(
                "model manifest not available yet",
                metadata: ["model": "\(source.modelName)", "error": "\(error)"])
            try? await Task.sleep(for: backoff.next())
            return nil
        }
    }

    private func replan(
        _ served: ServedModel, profiles: [WorkerProfile], workers: [RegisteredWorker],
        links: LinkModel,
        reasons: [ReplanReason], speedsOnly: Bool
    ) async {
        let options = PlacementOptions(
            contextLength: settings.contextLength, maxPipelines: settings.maxPipelines)
        let start = ContinuousClock.now
        let addresses = Dictionary(uniqueKeysWithValues: workers.map { ($0.id, $0.address) })
        do {
            let plan = try Placement.solve(
                model: served.profile, workers: profiles, links: links, options: options)
            let elapsed = ContinuousClock.now - start
            let adoption = PlanAdoption(minimumGain: settings.minimumGain)
            if speedsOnly, let current = await pipelines.plan,
                let kept = adoption.repredicted(
                    current, model: served.profile, workers: profiles, links: links),
                !adoption.worthAdopting(plan, over: kept)
            {
                // Same layout, today's speeds: nothing moves, and drift is measured from here.
                await pipelines.install(kept, addresses: addresses)
                logger.debug(
                    "speed drift: plan kept",
                    metadata: [
                        "reasons": "\(reasons.map(\.description).joined(separator: "; "))",
                        "kept_ms_per_token": "\(kept.primary.secondsPerToken * 1000)",
                        "candidate_ms_per_token": "\(plan.primary.secondsPerToken * 1000)",
                    ])
                return
            }
            await pipelines.install(plan, addresses: addresses)
            logger.info(
                "placement planned",
                metadata: [
                    "pipelines": "\(plan.pipelines.count)", "workers": "\(profiles.count)",
                    "ms_per_token": "\(plan.primary.secondsPerToken * 1000)", "solve": "\(elapsed)",
                    "measured_links": "\(links.pairLinks.values.reduce(0) { $0 + $1.count })",
                    "reasons": "\(reasons.map(\.description).joined(separator: "; "))",
                ])
            Counter(label: "tessera_scheduler_replans_total").increment()
        } catch {
            logger.warning(
                "no feasible placement",
                metadata: ["workers": "\(profiles.count)", "error": "\(error)"])
        }
    }
}

struct PlanSettings: Sendable {
    var contextLength = 2048
    var sessionsPerWorker = 2
    var maxPipelines = 16
    var driftThreshold = 0.5
    /// A drift re-plan is adopted only if it is this much faster (see PlanAdoption).
    var minimumGain = 0.2
    var tick: Duration = .milliseconds(500)
    /// A lease its holder has not renewed for this long is released (the holder is gone).
    var leaseTTL: Duration = .seconds(30)
    var links = LinkModel(defaultLink: Link(latencySeconds: 0.0005, bytesPerSecond: 500_000_000))
}
