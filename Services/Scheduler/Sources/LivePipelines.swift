import Foundation
import Placement
import ServiceKit

/// The pipelines the scheduler routes to: those of the current plan, and older ones that
/// drain (they keep their granted leases but take no new requests). A pipeline takes
/// requests once every stage's worker has loaded its shard, while each of them has a session
/// slot free (`SessionCapacity`).
actor LivePipelines {
    struct LiveStage: Sendable {
        var workerID: String
        var address: ListenAddress
        var layers: Range<Int>
        var predictedSeconds: Double
        /// The variant this stage runs (its name) and the catalog model its shard is cut
        /// from (SHA-256); nil for the model's own precision.
        var variant: String? = nil
        var variantSHA256: String? = nil
        /// The shard the worker loaded, once it has.
        var shard: ShardReference?
        var ready = false
        var deploying = false
    }

    struct LivePipeline: Sendable {
        var id: String
        var stages: [LiveStage]
        var planned: Pipeline
        /// Tokens per session the plan reserved KV memory for.
        var contextLength = 0
        var predictedSecondsPerToken: Double { planned.secondsPerToken }
        var draining = false
        var leases = 0
        var outstandingTokens = 0
        var isReady: Bool { stages.allSatisfy(\.ready) }
        var key: [String] {
            stages.map {
                "\($0.workerID)@\($0.layers.lowerBound)-\($0.layers.upperBound)"
                    + ($0.variantSHA256.map { ":" + $0 } ?? "")
            }
        }
    }

    struct Lease {
        var pipelineID: String
        var expectedTokens: Int
        /// When the holder last said it still uses the lease (granted, or renewed).
        var renewed: ContinuousClock.Instant
        /// When its generation should end, by the pipeline's predicted time per token.
        var expectedEnd: ContinuousClock.Instant
    }

    private(set) var pipelines: [LivePipeline] = []
    /// Plans installed since the scheduler started (GetPlacement's `plan_generation`).
    private(set) var generation: UInt64 = 0
    private(set) var plan: Plan?
    private var leases: [String: Lease] = [:]
    private var nextPipelineNumber = 1

    /// Installs a new plan: identical pipelines are kept (with their readiness and leases),
    /// new ones start unready, the rest drain. Installing the same layout again only
    /// refreshes its predictions.
    /// `addresses` holds every planned worker (plans are made from the registry's workers);
    /// a pipeline with a worker it lacks could never be reached, so it is not installed.
    /// `variants`: the catalog SHA-256 of each variant a stage may name (a stage naming one
    /// it lacks could not be deployed, so its pipeline is not installed).
    func install(
        _ plan: Plan, addresses: [String: ListenAddress], variants: [String: String] = [:]
    ) {
        self.plan = plan
        generation += 1
        var kept: [LivePipeline] = []
        var remaining = pipelines
        for planned in plan.pipelines {
            let stages = planned.stages.compactMap { stage -> LiveStage? in
                guard let address = addresses[stage.workerID] else { return nil }
                let variantSHA256 = stage.variant.flatMap { variants[$0] }
                if stage.variant != nil && variantSHA256 == nil { return nil }
                return LiveStage(
                    workerID: stage.workerID, address: address, layers: stage.layers,
                    predictedSeconds: stage.secondsPerToken, variant: stage.variant,
                    variantSHA256: variantSHA256)
            }
            guard stages.count == planned.stages.count else { continue }
            let candidate = LivePipeline(id: "", stages: stages, planned: planned)
            if let index = remaining.firstIndex(where: { !$0.draining && $0.key == candidate.key })
            {
                var existing = remaining.remove(at: index)
                existing.planned = planned
                existing.contextLength = plan.options.contextLength
                kept.append(existing)
            } else {
                var fresh = candidate
                fresh.id = "pipeline-\(nextPipelineNumber)"
                fresh.contextLength = plan.options.contextLength
                nextPipelineNumber += 1
                kept.append(fresh)
            }
        }
        for index in remaining.indices { remaining[index].draining = true }
        pipelines = kept + remaining.filter { $0.leases > 0 }
    }

    /// The pipelines, the plan they came from and its generation, read at one moment.
    func snapshot() -> (pipelines: [LivePipeline], plan: Plan?, generation: UInt64) {
        (pipelines, plan, generation)
    }

    /// Layer ranges each worker should keep loaded: every stage of the plan's pipelines and
    /// of older pipelines still draining. Anything else a worker reports hosting is
    /// unloaded, so the shards of a new plan fit; this covers shards whose load finished
    /// after their pipeline was dropped, which a plan-to-plan diff misses.
    func wantedLayers() -> [String: Set<Range<Int>>] {
        var wanted: [String: Set<Range<Int>>] = [:]
        for stage in pipelines.flatMap(\.stages) {
            wanted[stage.workerID, default: []].insert(stage.layers)
        }
        return wanted
    }

    /// Stages running a variant: (worker, the variant's catalog SHA-256, layers), so their
    /// shards, which name the variant's model, are kept too.
    func wantedVariantShards() -> [(workerID: String, model: String, layers: Range<Int>)] {
        pipelines.flatMap(\.stages).compactMap { stage in
            stage.variantSHA256.map { (stage.workerID, $0, stage.layers) }
        }
    }

    /// Stages that should start loading their shard now (marked as deploying).
    func claimDeployments() -> [(pipelineID: String, index: Int, stage: LiveStage)] {
        var claimed: [(String, Int, LiveStage)] = []
        for p in pipelines.indices where !pipelines[p].draining {
            for s in pipelines[p].stages.indices
            where !pipelines[p].stages[s].ready && !pipelines[p].stages[s].deploying {
                pipelines[p].stages[s].deploying = true
                claimed.append((pipelines[p].id, s, pipelines[p].stages[s]))
            }
        }
        return claimed
    }

    func deployed(pipelineID: String, index: Int, shard: ShardReference?) {
        guard let p = pipelines.firstIndex(where: { $0.id == pipelineID }),
            index < pipelines[p].stages.count
        else { return }
        pipelines[p].stages[index].deploying = false
        if let shard {
            pipelines[p].stages[index].shard = shard
            pipelines[p].stages[index].ready = true
        }
    }

    /// A worker is gone (or failed): its pipelines stop taking requests at once.
    func retire(workersNotIn live: Set<String>) {
        for p in pipelines.indices
        where pipelines[p].stages.contains(where: { !live.contains($0.workerID) }) {
            pipelines[p].draining = true
        }
        pipelines.removeAll { $0.draining && $0.leases == 0 }
    }

    /// A worker reports no longer hosting a shard we thought ready (it restarted): reload it.
    func markUnready(workerID: String, hosting shards: Set<String>) {
        for p in pipelines.indices {
            for s in pipelines[p].stages.indices
            where pipelines[p].stages[s].workerID == workerID && pipelines[p].stages[s].ready {
                if let sha = pipelines[p].stages[s].shard?.sha256, !shards.contains(sha) {
                    pipelines[p].stages[s].ready = false
                }
            }
        }
    }

    enum AcquireError: Error {
        case noReadyPipeline(total: Int)
        /// Every ready pipeline has a worker whose session slots are all in use.
        case atCapacity(Saturation)
    }

    /// What a refusal for lack of slots tells the caller.
    struct Saturation: Sendable, Equatable {
        /// Sessions leased now (all pipelines).
        var running: Int
        /// Sessions the ready pipelines serve at once (nil: not limited).
        var capacity: Int?
        /// When a slot may free: the soonest expected end of a running generation.
        var retryAfter: Duration
    }

    /// The ready pipeline with the least predicted wait (Placement.Router) among those with a
    /// session slot free on every stage (`slots`: by worker id, 0 or absent = not limited),
    /// avoiding workers that just failed this request. `beyondCapacity`: the session already
    /// runs (a lease lost with a scheduler restart, asked for again), so it is counted but
    /// not refused.
    func acquire(
        avoiding avoided: Set<String>, expectedTokens: Int, slots: [String: Int] = [:],
        beyondCapacity: Bool = false, now: ContinuousClock.Instant = .now
    ) throws(AcquireError) -> (LivePipeline, String) {
        let ready = pipelines.indices.filter { index in
            let pipeline = pipelines[index]
            return !pipeline.draining && pipeline.isReady
                && !pipeline.stages.contains { avoided.contains($0.workerID) }
        }
        let capacity = SessionCapacity(slots: slots, pipelines: pipelines)
        let candidates =
            beyondCapacity ? ready : ready.filter { capacity.hasFreeSlot(pipelines[$0]) }
        if candidates.isEmpty && !ready.isEmpty {
            throw .atCapacity(
                Saturation(
                    running: leases.count,
                    capacity: capacity.total(of: ready.map { pipelines[$0] }),
                    retryAfter: soonestRelease(now: now)))
        }
        let planned = candidates.map { pipelines[$0].planned }
        guard
            let choice = Router.choosePipeline(
                pipelines: planned,
                outstandingTokens: candidates.map { pipelines[$0].outstandingTokens },
                expectedTokens: expectedTokens)
        else { throw .noReadyPipeline(total: pipelines.count) }
        let index = candidates[choice]
        pipelines[index].leases += 1
        pipelines[index].outstandingTokens += expectedTokens
        let leaseID = UUID().uuidString
        // (A prediction that is not a number counts as none: the hint is then its floor.)
        let predicted = Double(expectedTokens) * pipelines[index].predictedSecondsPerToken
        let expectedSeconds = predicted.isFinite ? min(max(predicted, 0), 3600) : 0
        leases[leaseID] = Lease(
            pipelineID: pipelines[index].id, expectedTokens: expectedTokens, renewed: now,
            expectedEnd: now + .milliseconds(Int(expectedSeconds * 1000)))
        return (pipelines[index], leaseID)
    }

    /// A hint of when a slot may free: the soonest expected end of a running generation
    /// (predictions are rough and generations often stop early), from 1 s to 30 s.
    private func soonestRelease(now: ContinuousClock.Instant) -> Duration {
        let soonest = leases.values.map { $0.expectedEnd - now }.min() ?? .zero
        return min(max(soonest, .seconds(1)), .seconds(30))
    }

    func release(_ leaseID: String) {
        guard let lease = leases.removeValue(forKey: leaseID),
            let index = pipelines.firstIndex(where: { $0.id == lease.pipelineID })
        else { return }
        pipelines[index].leases -= 1
        pipelines[index].outstandingTokens = max(
            0, pipelines[index].outstandingTokens - lease.expectedTokens)
        if pipelines[index].draining && pipelines[index].leases == 0 { pipelines.remove(at: index) }
    }

    /// The holder still uses these leases; returns the ones this scheduler does not know
    /// (expired, released, or granted before a restart).
    func renew(_ leaseIDs: [String], now: ContinuousClock.Instant = .now) -> [String] {
        var unknown: [String] = []
        for id in leaseIDs {
            if leases[id] != nil { leases[id]?.renewed = now } else { unknown.append(id) }
        }
        return unknown
    }

    /// Leases not renewed within `ttl` are released: their holder crashed or lost the
    /// scheduler, and a draining pipeline must not wait for them forever. Returns how many.
    @discardableResult
    func expireLeases(notRenewedWithin ttl: Duration, now: ContinuousClock.Instant = .now) -> Int {
        let expired = leases.filter { now - $0.value.renewed > ttl }.map(\.key)
        for id in expired { release(id) }
        return expired.count
    }

    /// Leases held now, by pipeline id (tests, metrics).
    var activeLeases: Int { leases.count }

    /// Bytes each worker holds for these pipelines, draining ones too: shards and KV.
    func memoryByWorker() -> [String: Int] { PlanMemory.byWorker(pipelines.map(\.planned)) }

    /// The model is no longer planned (evicted, or it fits nowhere): every pipeline drains,
    /// and those without leases go at once (their shards are then unloaded).
    func retireAll() {
        plan = nil
        for index in pipelines.indices { pipelines[index].draining = true }
        pipelines.removeAll { $0.leases == 0 }
    }

    /// A pipeline taking requests whose every stage loaded its shard once (it may be
    /// re-checking one now: a worker's heartbeat sent before a load ended says it lacks it).
    func hasDeployedPipeline() -> Bool {
        pipelines.contains { !$0.draining && $0.stages.allSatisfy { $0.shard != nil } }
    }

    /// Pipelines taking requests, and how many of them are ready (ListModelStates).
    func replicaCounts() -> (planned: Int, ready: Int) {
        let open = pipelines.filter { !$0.draining }
        return (open.count, open.filter(\.isReady).count)
    }
}
