import GRPCCore
import Placement
import ServiceKit
import TesseraProto
import Testing

@testable import Scheduler

/// Bounded admission at the scheduler: a pipeline takes a session while every worker of it
/// has a session slot free, a worker's slots are shared by all the pipelines it hosts a
/// stage of, and a refusal says how many run, the capacity and when to retry.
@Suite struct SchedulerCapacityTests {
    /// Ready pipelines of `plan` on the workers named in it.
    func live(_ plan: Plan, workers: [String]) async -> LivePipelines {
        let live = LivePipelines()
        await live.install(plan, addresses: SchedulerRoutingTests.addresses(workers))
        for (pipeline, index, _) in await live.claimDeployments() {
            await live.deployed(
                pipelineID: pipeline, index: index,
                shard: ShardReference(sha256: "s-\(pipeline)-\(index)"))
        }
        return live
    }

    /// Why `live` refuses one more session for lack of slots; nil if it grants it (or
    /// refuses for another reason).
    func saturation(_ live: LivePipelines, slots: [String: Int]) async
        -> LivePipelines.Saturation?
    {
        do {
            _ = try await live.acquire(avoiding: [], expectedTokens: 10, slots: slots)
            return nil
        } catch .atCapacity(let saturation) {
            return saturation
        } catch {
            return nil
        }
    }

    @Test func refusesBeyondCapacityAndGrantsAgainAfterARelease() async throws {
        let plan = try Placement.solve(
            model: SchedulerRoutingTests.model, workers: SchedulerRoutingTests.workers(["w1"]))
        let live = await live(plan, workers: ["w1"])
        let slots = ["w1": 2]
        let (_, first) = try await live.acquire(avoiding: [], expectedTokens: 10, slots: slots)
        _ = try await live.acquire(avoiding: [], expectedTokens: 10, slots: slots)
        let refused = await saturation(live, slots: slots)
        #expect(refused?.running == 2)
        #expect(refused?.capacity == 2)
        #expect((refused?.retryAfter ?? Duration.zero) >= Duration.seconds(1))
        #expect(await live.activeLeases == 2)  // the refusal took nothing

        await live.release(first)
        _ = try await live.acquire(avoiding: [], expectedTokens: 10, slots: slots)
        #expect(await live.activeLeases == 2)
        // A worker that reports no slots is not limited.
        _ = try await live.acquire(avoiding: [], expectedTokens: 10, slots: [:])
    }

    @Test func aWorkersSlotsAreSharedByEveryPipelineItHosts() async throws {
        // Two replicas, then the second made a chain through w2 and w1: w1 hosts a stage of
        // both pipelines.
        var plan = try Placement.solve(
            model: SchedulerRoutingTests.model,
            workers: SchedulerRoutingTests.workers(["w1", "w2"]))
        try #require(plan.pipelines.count == 2)
        let whole = plan.pipelines[1].stages[0]
        var front = whole
        front.workerID = "w2"
        front.layers = 0..<15
        var back = whole
        back.workerID = "w1"
        back.layers = 15..<30
        plan.pipelines[0].stages[0].workerID = "w1"
        plan.pipelines[1].stages = [front, back]
        let live = await live(plan, workers: ["w1", "w2"])
        #expect(await live.pipelines.filter(\.isReady).count == 2)

        let slots = ["w1": 2, "w2": 8]
        var used: Set<String> = []
        for _ in 0..<2 {
            let (pipeline, _) = try await live.acquire(
                avoiding: [], expectedTokens: 10, slots: slots)
            used.insert(pipeline.id)
        }
        // w2 has slots left, but each pipeline needs one on w1 too.
        let refused = await saturation(live, slots: slots)
        #expect(refused?.running == 2)
        #expect(refused?.capacity == 2)

        // The capacity estimate: two replicas sharing nothing add up; a chain is its least.
        let pipelines = await live.pipelines
        let capacity = SessionCapacity(slots: ["w1": 3, "w2": 5], pipelines: [])
        #expect(capacity.total(of: pipelines) == 3)
        #expect(capacity.total(of: pipelines.filter { $0.stages.count == 2 }) == 3)
        #expect(SessionCapacity(slots: [:], pipelines: []).total(of: pipelines) == nil)
    }

    @Test func aLeaseAskedForAgainAfterARestartIsCountedBeyondCapacity() async throws {
        let plan = try Placement.solve(
            model: SchedulerRoutingTests.model, workers: SchedulerRoutingTests.workers(["w1"]))
        let live = await live(plan, workers: ["w1"])
        let slots = ["w1": 1]
        _ = try await live.acquire(avoiding: [], expectedTokens: 10, slots: slots)
        // A generation that already runs there (its lease was lost): counted, not refused.
        _ = try await live.acquire(
            avoiding: [], expectedTokens: 10, slots: slots, beyondCapacity: true)
        #expect(await live.pipelines[0].leases == 2)
        #expect(await saturation(live, slots: slots)?.running == 2)
    }

    @Test func theRefusalIsResourceExhaustedWithARetryHint() async throws {
        let error = SchedulerError.atCapacity(
            model: "m",
            saturation: LivePipelines.Saturation(
                running: 4, capacity: 4, retryAfter: .milliseconds(2500)))
        #expect(error.rpcErrorCode == .resourceExhausted)
        #expect(error.rpcErrorMessage.contains("4 sessions running, capacity 4"))
        #expect(error.rpcErrorMessage.contains("retry in about 3 s"))
        #expect(
            error.rpcErrorMetadata[stringValues: MetadataKeys.retryPushback].first {
                _ in true
            } == "2500")
        #expect(SchedulerError.modelNotLoaded.rpcErrorMetadata.isEmpty)
    }

    @Test func theRegistryKeepsTheLatestSlotCountAWorkerReported() throws {
        let registry = WorkerRegistry(expiry: .seconds(60))
        let address = ListenAddress(host: "127.0.0.1", port: 7410)
        _ = try registry.register(
            address: address,
            capabilities: WorkerCapabilities(memoryBytes: 1 << 30, cpuCount: 1, sessionSlots: 64),
            requestedID: "w1", readyShards: [])
        #expect(registry.sessionSlots() == ["w1": 64])
        registry.recordSessionSlots(5, of: "w1")  // with a loaded shard
        #expect(registry.sessionSlots() == ["w1": 5])
        try registry.heartbeat(
            workerID: "w1", load: WorkerLoad(activeSessions: 1, sessionSlots: 4), readyShards: [])
        #expect(registry.sessionSlots() == ["w1": 4])
        // A worker that reports none in its heartbeats keeps what it registered with.
        try registry.heartbeat(workerID: "w1", load: WorkerLoad(), readyShards: [])
        #expect(registry.sessionSlots() == ["w1": 64])
    }
}
