import Placement
import ServiceKit
import TesseraProto
import Testing

@testable import Scheduler

/// The scheduler's live pipelines: plans are installed without disturbing identical
/// pipelines, routing picks the least-loaded ready pipeline, and old pipelines drain.
@Suite struct SchedulerRoutingTests {
    static let model = ModelProfile(
        layers: Array(
            repeating: LayerCost(weightBytes: 3_000_000, flopsPerToken: 6e6, kvBytesPerToken: 768),
            count: 30),
        embedding: StageExtra(weightBytes: 30_000_000, bytesReadPerToken: 600),
        outputHead: StageExtra(weightBytes: 30_000_000),
        tiedEmbeddingBytes: 0, activationBytesPerToken: 2304, ingressBytesPerToken: 4,
        egressBytesPerToken: 4)

    static func workers(_ ids: [String], memory: Int = 4 << 30) -> [WorkerProfile] {
        ids.map {
            WorkerProfile(
                id: $0, memoryBudgetBytes: memory, speed: WorkerSpeed(bytesPerSecond: 10e9))
        }
    }

    static func addresses(_ ids: [String]) -> [String: ListenAddress] {
        Dictionary(
            uniqueKeysWithValues: ids.enumerated().map {
                ($1, ListenAddress(host: "127.0.0.1", port: 7410 + $0))
            })
    }

    func readyAll(_ live: LivePipelines) async {
        for (pipeline, index, _) in await live.claimDeployments() {
            await live.deployed(
                pipelineID: pipeline, index: index,
                shard: ShardReference(sha256: "s-\(pipeline)-\(index)"))
        }
    }

    @Test func routesOnlyToReadyPipelinesAndSpreadsLoad() async throws {
        let ids = ["w1", "w2", "w3"]
        let plan = try Placement.solve(model: Self.model, workers: Self.workers(ids))
        #expect(plan.pipelines.count == 3)  // each worker holds the whole model: three replicas
        let live = LivePipelines()
        await live.install(plan, addresses: Self.addresses(ids))
        await #expect(throws: LivePipelines.AcquireError.self) {
            _ = try await live.acquire(avoiding: [], expectedTokens: 10)
        }
        await readyAll(live)
        var used: Set<String> = []
        var leases: [String] = []
        for _ in 0..<3 {
            let (pipeline, lease) = try await live.acquire(avoiding: [], expectedTokens: 100)
            used.insert(pipeline.id)
            leases.append(lease)
        }
        #expect(used.count == 3)  // the least predicted wait spreads requests over the replicas
        let (avoiding, _) = try await live.acquire(avoiding: ["w1", "w2"], expectedTokens: 1)
        #expect(avoiding.stages.map(\.workerID) == ["w3"])
        for lease in leases { await live.release(lease) }
    }

    @Test func replanKeepsIdenticalPipelinesAndDrainsTheRest() async throws {
        let live = LivePipelines()
        let first = try Placement.solve(model: Self.model, workers: Self.workers(["w1", "w2"]))
        await live.install(first, addresses: Self.addresses(["w1", "w2", "w3"]))
        await readyAll(live)
        let (held, lease) = try await live.acquire(avoiding: ["w2"], expectedTokens: 10)
        #expect(held.stages.map(\.workerID) == ["w1"])

        // w1 leaves: its pipeline drains (keeps the granted lease) and takes no new requests.
        await live.retire(workersNotIn: ["w2", "w3"])
        let second = try Placement.solve(model: Self.model, workers: Self.workers(["w2", "w3"]))
        await live.install(second, addresses: Self.addresses(["w1", "w2", "w3"]))
        let afterInstall = await live.pipelines
        #expect(afterInstall.contains { $0.id == held.id && $0.draining })
        // w2's pipeline was identical, so it stays ready; w3's is new and must load first.
        #expect(
            afterInstall.filter { !$0.draining && $0.isReady }.map { $0.stages[0].workerID } == [
                "w2"
            ])
        let (next, nextLease) = try await live.acquire(avoiding: [], expectedTokens: 10)
        #expect(next.stages[0].workerID == "w2")
        // The drained pipeline's shard stays wanted on w1 while its lease lives.
        #expect(await live.wantedLayers()["w1"] == [0..<30])
        await live.release(lease)
        #expect(await live.pipelines.contains { $0.id == held.id } == false)  // drained and gone
        #expect(await live.wantedLayers() == ["w2": [0..<30], "w3": [0..<30]])
        await live.release(nextLease)
    }

    @Test func aShardLoadedAfterItsPipelineWasDroppedIsNotWanted() async throws {
        // A deployment in flight when a re-plan drops its pipeline finishes later; the
        // shard then sits on the worker and must be unloaded for the new plan to fit.
        let live = LivePipelines()
        let tight = Self.workers(["w1", "w2"], memory: 100_000_000)
        let first = try Placement.solve(
            model: Self.model, workers: tight, options: PlacementOptions(contextLength: 512))
        await live.install(first, addresses: Self.addresses(["w1", "w2"]))
        let claimed = await live.claimDeployments()
        #expect(claimed.count == 2)
        var faster = tight
        faster[1].speed = WorkerSpeed(bytesPerSecond: 40e9)
        let second = try Placement.solve(
            model: Self.model, workers: faster, options: PlacementOptions(contextLength: 512))
        #expect(second.primary.stages.map(\.layers) != first.primary.stages.map(\.layers))
        await live.install(second, addresses: Self.addresses(["w1", "w2"]))
        for (pipeline, index, _) in claimed {  // the old loads complete after the re-plan
            await live.deployed(
                pipelineID: pipeline, index: index, shard: ShardReference(sha256: "old-\(index)"))
        }
        let wanted = await live.wantedLayers()
        for stage in first.primary.stages
        where !second.primary.stages.contains(where: {
            $0.workerID == stage.workerID && $0.layers == stage.layers
        }) {
            #expect(wanted[stage.workerID]?.contains(stage.layers) != true)
        }
        for stage in second.primary.stages {
            #expect(wanted[stage.workerID]?.contains(stage.layers) == true)
        }
    }

    @Test func memoryLimitsSplitTheModelIntoStages() async throws {
        // 45 MB per worker cannot hold 150 MB of weights: the plan chains stages.
        let plan = try Placement.solve(
            model: Self.model, workers: Self.workers(["w1", "w2", "w3", "w4"], memory: 60_000_000),
            options: PlacementOptions(contextLength: 512))
        let live = LivePipelines()
        await live.install(plan, addresses: Self.addresses(["w1", "w2", "w3", "w4"]))
        let pipeline = try #require(await live.pipelines.first)
        #expect(pipeline.stages.count >= 3)
        #expect(pipeline.stages.first!.layers.lowerBound == 0)
        #expect(pipeline.stages.last!.layers.upperBound == 30)
        for (a, b) in zip(pipeline.stages, pipeline.stages.dropFirst()) {
            #expect(a.layers.upperBound == b.layers.lowerBound)
        }
    }

    @Test func placementCountsTheInstalledPlans() async throws {
        let live = LivePipelines()
        let model = OneShot<ServedModel>()
        model.set(
            ServedModel(
                reference: ModelReference(name: "m", sha256: String(repeating: "a", count: 64)),
                profile: Self.model))
        let routing = Routing(
            registry: WorkerRegistry(expiry: .seconds(6)), pipelines: live, model: model,
            logger: quietLogger)
        #expect(try await routing.placement(.init()).planGeneration == 0)
        let plan = try Placement.solve(model: Self.model, workers: Self.workers(["w1"]))
        await live.install(plan, addresses: Self.addresses(["w1"]))
        #expect(try await routing.placement(.init()).planGeneration == 1)
        // the same layout again still counts
        await live.install(plan, addresses: Self.addresses(["w1"]))
        let placement = try await routing.placement(.with { $0.model = "m" })
        #expect(placement.planGeneration == 2)
        #expect(placement.pipelines.map(\.stages.count) == [1])
    }

    @Test func leasesLiveWhileRenewedAndExpireWhenTheirHolderStops() async throws {
        let plan = try Placement.solve(model: Self.model, workers: Self.workers(["w1"]))
        let live = LivePipelines()
        await live.install(plan, addresses: Self.addresses(["w1"]))
        await readyAll(live)
        let (_, kept) = try await live.acquire(avoiding: [], expectedTokens: 10)
        let (_, abandoned) = try await live.acquire(avoiding: [], expectedTokens: 10)
        let start = ContinuousClock.now
        // The holder of `kept` renews every 10 s; the holder of `abandoned` is gone.
        for second in stride(from: 10, through: 40, by: 10) {
            let now = start + .seconds(second)
            #expect(await live.renew([kept], now: now) == [])
            await live.expireLeases(notRenewedWithin: .seconds(30), now: now)
        }
        #expect(await live.activeLeases == 1)
        #expect(await live.pipelines[0].leases == 1)
        #expect(await live.renew([abandoned, kept]) == [abandoned])  // unknown: released
        // Renewals stop: the lease goes once its TTL has passed, not before.
        await live.expireLeases(notRenewedWithin: .seconds(30), now: .now + .seconds(29))
        #expect(await live.activeLeases == 1)
        await live.expireLeases(notRenewedWithin: .seconds(30), now: .now + .seconds(31))
        #expect(await live.activeLeases == 0)
        #expect(await live.pipelines[0].leases == 0)
    }
}
