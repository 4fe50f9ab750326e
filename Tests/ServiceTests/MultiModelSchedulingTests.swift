import GRPCCore
import GRPCInProcessTransport
import ServiceKit
import TesseraProto
import Testing

@testable import Scheduler

/// Serving several models through a whole scheduler (MultiModelHarness): the state machine
/// (cold → loading → warm, evicting), routing of cold models, the eviction choice, the refusal
/// when nothing can make room, and a worker that dies while a model loads.
@Suite(.timeLimit(.minutes(3))) struct MultiModelSchedulingTests {
    typealias Model = MultiModelCatalog.FakeModel
    /// 110 MB each (10 layers of 10 MB, embedding and head of 5 MB): one per 150 MB worker.
    static let m0 = Model(name: "m0", layerBytes: 10_000_000)
    static let m1 = Model(name: "m1", layerBytes: 10_000_000)
    static let m2 = Model(name: "m2", layerBytes: 10_000_000)
    static let m3 = Model(name: "m3", layerBytes: 10_000_000)
    /// 440 MB: more than every worker together.
    static let huge = Model(name: "huge", layerBytes: 40_000_000)
    static let workerMemory: UInt64 = 150_000_000

    static func serve(_ api: Tessera_V1_Scheduler.Client<InProcessTransport.Client>, _ name: String)
        async throws
    {
        _ = try await api.serveModel(
            .with {
                $0.model = name
                $0.servable = true
            })
    }

    @Test func aColdModelLoadsOnRequestAndTurnsWarm() async throws {
        try await MultiModelCluster.run(
            models: [Self.m0, Self.m1], workers: ["w1", "w2"], memoryBytes: Self.workerMemory
        ) { api, cluster in
            #expect(
                try await eventually { try await MultiModelCluster.states(api)["m0"] == "warm" })
            try await Self.serve(api, "m1")
            #expect(cluster.catalog.marks(of: "m1")?.servable == true)
            #expect(try await MultiModelCluster.states(api)["m1"] == "cold")

            // The first request starts the load and is told to wait.
            let first = await rpcFailure {
                _ = try await api.acquirePipeline(.with { $0.model = "m1" })
            }
            #expect(first?.code == .unavailable)
            #expect(first?.message.contains("loading (cold start") == true)
            let state = try await MultiModelCluster.states(api)["m1"]
            #expect(state == "loading" || state == "warm")

            let lease = try await MultiModelCluster.acquireWhenReady(api, model: "m1")
            #expect(lease != nil)
            #expect(try await MultiModelCluster.states(api)["m1"] == "warm")
            // Memory is shared: the default model gave up its second pipeline to m1.
            #expect(cluster.workers.map(\.loadedModels) == [["m0"], ["m1"]])
            let listed = try await api.listModelStates(.init()).models
            #expect(listed.map(\.model.name) == ["m0", "m1"])
            #expect(
                listed[0].defaultModel && listed[0].pinReplicas == 1 && listed[0].readyReplicas == 1
            )
            #expect(listed[1].activeRequests == 1 && listed[1].contextLength == 256)
            let summary = try await api.getPlacement(.with { $0.model = "m1" }).summary
            #expect(summary.contains("m1: warm, 1/1 pipelines ready, 1 active"))
        }
    }

    @Test func roomIsMadeByEvictingTheIdleModelGreedyDualSizeFrequencyRanksLowest() async throws {
        try await MultiModelCluster.run(
            models: [Self.m0, Self.m1, Self.m2, Self.m3], workers: ["w1", "w2", "w3"],
            memoryBytes: Self.workerMemory
        ) { api, cluster in
            #expect(
                try await eventually { try await MultiModelCluster.states(api)["m0"] == "warm" })
            for name in ["m1", "m2", "m3"] { try await Self.serve(api, name) }
            // m1 is used often, m2 once: both warm, on w2 and w3.
            for _ in 0..<6 {
                let lease = try #require(
                    try await MultiModelCluster.acquireWhenReady(api, model: "m1"))
                _ = try await api.releasePipeline(.with { $0.leaseID = lease })
            }
            let once = try #require(try await MultiModelCluster.acquireWhenReady(api, model: "m2"))
            _ = try await api.releasePipeline(.with { $0.leaseID = once })
            #expect(
                try await MultiModelCluster.states(api) == [
                    "m0": "warm", "m1": "warm", "m2": "warm", "m3": "cold",
                ])

            // m3 needs a worker: m2, the least used, makes room; m1 stays.
            let lease = try await MultiModelCluster.acquireWhenReady(api, model: "m3")
            #expect(lease != nil)
            #expect(
                try await eventually {
                    try await MultiModelCluster.states(api)
                        == ["m0": "warm", "m1": "warm", "m2": "cold", "m3": "warm"]
                })
            // (The state turns cold when the plan drops m2; its shard is unloaded on the
            // plan loop's next pass.)
            #expect(
                try await eventually {
                    cluster.workers.map(\.loadedModels) == [["m0"], ["m1"], ["m3"]]
                })
        }
    }

    @Test func withEveryOtherModelInUseTheRequestIsRefusedWithTheReason() async throws {
        try await MultiModelCluster.run(
            models: [Self.m0, Self.m1, Self.m2], workers: ["w1", "w2"],
            memoryBytes: Self.workerMemory
        ) { api, _ in
            #expect(
                try await eventually { try await MultiModelCluster.states(api)["m0"] == "warm" })
            for name in ["m1", "m2"] { try await Self.serve(api, name) }
            // m1 holds a lease (a generation running): it may not be evicted.
            let held = try #require(try await MultiModelCluster.acquireWhenReady(api, model: "m1"))
            var refusal: RPCError?
            let deadline = ContinuousClock.now + .seconds(30)
            while refusal == nil && ContinuousClock.now < deadline {
                do {
                    _ = try await api.acquirePipeline(.with { $0.model = "m2" })
                    Issue.record("m2 was granted while nothing can make room for it")
                    return
                } catch let error as RPCError where error.code == .unavailable {
                    try await Task.sleep(for: .milliseconds(50))  // loading, then refused
                } catch let error as RPCError {
                    refusal = error
                }
            }
            let refused = try #require(refusal)
            #expect(refused.code == .resourceExhausted)
            #expect(refused.message.contains("model m2 cannot be loaded now"))
            #expect(refused.message.contains("no idle unpinned model can be evicted"))
            #expect(refused.metadata[stringValues: MetadataKeys.noRoom].contains("1"))
            #expect(
                refused.metadata[stringValues: MetadataKeys.retryPushback].first { _ in true }
                    != nil)
            let listed = try await api.listModelStates(.init()).models
            let m2 = try #require(listed.first { $0.model.name == "m2" })
            #expect(m2.state == "cold" && m2.reason.contains("fits in no worker's free memory"))
            #expect(try await MultiModelCluster.states(api)["m1"] == "warm")
            _ = try await api.releasePipeline(.with { $0.leaseID = held })
        }
    }

    @Test func aModelThatFitsNowhereIsNotMarkedServableAndUnknownModelsAreNotFound() async throws {
        try await MultiModelCluster.run(
            models: [Self.m0, Self.huge], workers: ["w1", "w2"], memoryBytes: Self.workerMemory
        ) { api, cluster in
            let warm = try await eventually {
                try await MultiModelCluster.states(api)["m0"] == "warm"
            }
            #expect(warm)
            let huge = await rpcFailure { try await Self.serve(api, "huge") }
            #expect(huge?.code == .failedPrecondition)
            #expect(huge?.message.contains("huge fits on no set of the registered workers") == true)
            #expect(cluster.catalog.marks(of: "huge") == nil)
            let unserveDefault = await rpcFailure {
                _ = try await api.serveModel(.with { $0.model = "m0" })
            }
            #expect(unserveDefault?.code == .failedPrecondition)
            #expect(await rpcCode { try await Self.serve(api, "nope") } == .notFound)
            let tooManyPins = await rpcCode {
                _ = try await api.serveModel(
                    .with {
                        $0.model = "m0"
                        $0.servable = true
                        $0.pinReplicas = 1000
                    })
            }
            #expect(tooManyPins == .invalidArgument)
            // Neither a model the catalog holds but nobody marked, nor one it lacks, is served.
            for name in ["huge", "nope"] {
                let refused = await rpcFailure {
                    _ = try await api.acquirePipeline(.with { $0.model = name })
                }
                #expect(refused?.code == .notFound)
                #expect(refused?.message.contains("is not served here") == true)
            }
        }
    }

    @Test func aWorkerThatDiesWhileLoadingLeavesNoModelStuckInLoading() async throws {
        try await MultiModelCluster.run(
            models: [Self.m0, Self.m1], workers: ["w1", "w2"], memoryBytes: Self.workerMemory
        ) { api, cluster in
            #expect(
                try await eventually { try await MultiModelCluster.states(api)["m0"] == "warm" })
            try await Self.serve(api, "m1")
            // m1 goes to w2, which never finishes loading it, then dies.
            cluster.workers[1].hang(onModel: "m1")
            _ = await rpcFailure { _ = try await api.acquirePipeline(.with { $0.model = "m1" }) }
            #expect(
                try await eventually(timeout: .seconds(10)) {
                    try await MultiModelCluster.states(api)["m1"] == "loading"
                })
            cluster.alive.withLock { _ = $0.remove("w2") }
            // Dropped after its expiry (2 s), w2's load is forgotten: m1 is planned again on
            // what is left, where it does not fit, so it is cold with the reason.
            #expect(
                try await eventually(timeout: .seconds(20)) {
                    try await MultiModelCluster.states(api)["m1"] == "cold"
                })
            let m1 = try #require(
                try await api.listModelStates(.init()).models.first { $0.model.name == "m1" })
            #expect(m1.reason.contains("fits in no worker's free memory"))
            #expect(try await MultiModelCluster.states(api)["m0"] == "warm")
        }
    }

    @Test func theSlowLoopPutsTheShardsAFailoverNeedsOnTheSurvivorsDisks() async throws {
        // 70 MB workers: the model runs as two stages; without either worker, the other two
        // would split it differently, so those ranges go to their disks ahead of time.
        try await MultiModelCluster.run(
            models: [Self.m0], workers: ["w1", "w2", "w3"], memoryBytes: 70_000_000
        ) { api, cluster in
            #expect(
                try await eventually { try await MultiModelCluster.states(api)["m0"] == "warm" })
            let prestaged = try await eventually(timeout: .seconds(30)) {
                cluster.workers.contains { worker in
                    let loaded = Set(worker.loaded.map(\.sha256))
                    return worker.prefetched.contains { !loaded.contains($0.sha256) }
                }
            }
            #expect(prestaged)
            for worker in cluster.workers {
                for shard in worker.prefetched {
                    #expect(shard.model.name == "m0" && shard.hasLayers)
                }
            }
        }
    }
}
