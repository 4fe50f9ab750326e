import Logging
import Metrics
import Placement
import ServiceKit
import ServiceLifecycle

/// Keeps the plans current for every served model: loads the default model's manifest and
/// the catalog's servable marks, moves models between states (`ServingState`), re-plans
/// when workers join, leave or drift in speed (Placement.ReplanAdvisor) or the set of
/// planned models changes, and deploys shards for stages not yet ready.
/// It looks at the registry twice a second, and at once when a worker joins or leaves or a
/// cold model is asked for (a failover, or a cold start, waits on the re-plan). A worker
/// the verifier quarantined counts as gone: its pipelines retire, the plans are made
/// without it, and its shards are unloaded; released, it joins again. Shard deployments
/// run as children of a task group the loop owns, beside its ticks; at shutdown the loop
/// stops and cancels those in flight.
struct PlanLoop: Service {
    let registry: WorkerRegistry
    let models: ServedModels
    let source: ModelSource
    let deployer: ShardDeployer
    let settings: PlanSettings
    let logger: Logger
    /// The slow loop's pre-staging of shards on disks (nil: none).
    var prestager: ShardPrestager?

    func run() async throws {
        await withDiscardingTaskGroup { deployments in
            await loop(deployments: &deployments)
            deployments.cancelAll()
        }
    }

    private func loop(deployments: inout DiscardingTaskGroup) async {
        var observed = ObservedSpeeds()
        var lastWorkerSet: Set<String> = []
        var lastPlanned: [String] = []
        var backoff = Backoff(initial: .milliseconds(200), maximum: .seconds(5))
        var catalogReadAt: ContinuousClock.Instant?
        var cache = ServingCache(settings: settings)
        var slowLoopAt: ContinuousClock.Instant?
        var slowLoopWorkers: Set<String> = []
        // Pre-staging waits until no model is loading (it would compete for the network).
        var prestageDue = false
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            var loaded = models.defaultModel.current
            if loaded == nil { loaded = await loadModel(&backoff) }
            guard let defaultModel = loaded else { continue }
            let now = ContinuousClock.now
            if catalogReadAt.map({ now - $0 >= settings.catalogInterval }) ?? true {
                await readCatalog(defaultSHA256: defaultModel.reference.sha256)
                catalogReadAt = now
            }
            let registered = registry.workers()
            let workers = registered.filter { !$0.quarantined }
            let live = Set(workers.map(\.id))
            for entry in models.entries() {
                await entry.pipelines.retire(workersNotIn: live)
                for worker in workers {
                    await entry.pipelines.markUnready(
                        workerID: worker.id, hosting: Set(worker.readyShards.map(\.sha256)))
                }
            }
            let (steps, hops) = registry.takeUnreadTimings()
            // (Speeds of quarantined workers are kept, for when they are released.)
            observed.absorb(steps: steps, hops: hops, workers: registered)
            let profiles = observed.profiles(workers, expectedSessions: settings.sessionsPerWorker)
            // The slow loop: demand forecast and replicas per model, every few minutes and
            // whenever workers join or leave.
            if slowLoopAt.map({ now - $0 >= settings.cacheInterval }) ?? true
                || live != slowLoopWorkers
            {
                await decideReplicas(&cache, now: now)
                prestageDue = true
                slowLoopAt = now
                slowLoopWorkers = live
            }
            await advanceStates(&cache, now: now)
            cache.absorbRequests(models)
            let planned = plannedInOrder()
            let keys = planned.map(\.key)
            var reasons: [String: [ReplanReason]] = [:]
            for entry in planned {
                if let plan = await entry.pipelines.plan {
                    // With several models, a plan was made over what the earlier ones left:
                    // its budgets are not the workers' own, and differing is no reason.
                    let compared =
                        planned.count > 1 ? Self.withBudgets(of: plan, profiles) : profiles
                    let advice = ReplanAdvisor(driftThreshold: settings.driftThreshold).reasons(
                        plan: plan, current: compared)
                    if !advice.isEmpty { reasons[entry.key] = advice }
                }
            }
            var missingPlan = false
            for entry in planned where await entry.pipelines.plan == nil { missingPlan = true }
            // A quality budget set or changed (`tessera model budget`) re-plans at once.
            let qualityChanged = models.takeQualityChanged()
            if !profiles.isEmpty
                && (missingPlan || live != lastWorkerSet || keys != lastPlanned || !reasons.isEmpty
                    || qualityChanged)
            {
                let speedsOnly =
                    !missingPlan && !qualityChanged && live == lastWorkerSet && keys == lastPlanned
                    && reasons.values.allSatisfy { $0.allSatisfy(\.isSpeedDrift) }
                await replan(
                    &cache, profiles: profiles, workers: workers,
                    links: observed.links(over: settings.links), reasons: reasons,
                    speedsOnly: speedsOnly)
                lastWorkerSet = live
                lastPlanned = plannedInOrder().map(\.key)
                prestageDue = true
            } else if profiles.isEmpty {
                lastWorkerSet = []
            }
            await unloadUnwanted(registered)
            if prestageDue, !profiles.isEmpty,
                !models.entries().contains(where: { $0.state.isLoading })
            {
                await prestage(cache, workers: workers, profiles: profiles, in: &deployments)
                prestageDue = false
            }
            for entry in models.entries() where entry.state.isActive {
                await deployer.deployPending(
                    model: entry.model, pipelines: entry.pipelines, in: &deployments)
            }
            var expired = 0
            for entry in models.entries() {
                expired += await entry.pipelines.expireLeases(notRenewedWithin: settings.leaseTTL)
            }
            if expired > 0 {
                logger.notice(
                    "leases expired: their holders stopped renewing them",
                    metadata: ["leases": "\(expired)"])
            }
            await registry.membershipChanged.wait(upTo: settings.tick)
        }
    }

    /// Models to plan, in priority order: pinned ones first (the default model before the
    /// rest), then the others in the order they were loaded.
    func plannedInOrder() -> [ServedModels.Entry] {
        models.entries().filter { $0.state.isActive }.sorted { left, right in
            let l = (left.isDefault ? 0 : left.isPinned ? 1 : 2, left.activation, left.key)
            let r = (right.isDefault ? 0 : right.isPinned ? 1 : 2, right.activation, right.key)
            return l < r
        }
    }
}

struct PlanSettings: Sendable {
    var contextLength = 2048
    var sessionsPerWorker = 2
    var maxPipelines = 16
    /// A replica must be predicted within this × the primary pipeline's time per token.
    var replicaLatencyFactor = 2.0
    var driftThreshold = 0.5
    /// A drift re-plan is adopted only if it is this much faster (see PlanAdoption).
    var minimumGain = 0.2
    var tick: Duration = .milliseconds(500)
    /// A lease its holder has not renewed for this long is released (the holder is gone).
    var leaseTTL: Duration = .seconds(30)
    var links = LinkModel(defaultLink: Link(latencySeconds: 0.0005, bytesPerSecond: 500_000_000))
    /// How often the catalog's serving marks are read (ServeModel also reads them at once).
    var catalogInterval: Duration = .seconds(3)
    /// The slow loop's period (`--cache-interval-s`); it also runs when workers join or leave.
    var cacheInterval: Duration = .seconds(120)
    /// An unpinned model nobody used for this long is evicted (`--idle-timeout-s`), unless
    /// its marks set another timeout.
    var idleTimeout: Duration = .seconds(600)
    /// A model that became warm is not evicted to make room for another within this long.
    var minimumKeepAlive: Duration = .seconds(10)
    /// A load still not ready after this long is given up (`--cold-start-timeout-s`): the
    /// model is cold again, and requests are told why.
    var coldStartTimeout: Duration = .seconds(60)
    /// After a refusal, requests for the model are answered at once for this long.
    var refusalHold: Duration = .seconds(5)
    /// An eviction followed by a load of the same model within this long is a thrash event.
    var thrashWindow: Duration = .seconds(300)
}
