import GRPCCore
import GRPCInProcessTransport
import ServiceKit
import TesseraProto
import Testing

@testable import Scheduler

/// A model with a quality budget through a whole scheduler (MultiModelHarness, in process):
/// the plan runs a stage on the variant the budget allows, that stage's worker is told to
/// load a shard cut from the variant, the other worker one of the model itself, and the
/// variant's shard is kept (not taken for a shard nobody wants).
@Suite(.timeLimit(.minutes(2))) struct VariantPlacementSchedulingTests {
    typealias Model = MultiModelCatalog.FakeModel

    /// 10 layers of 10 MB (embedding and head 5 MB each); the variant stores 4 MB a layer.
    static let variant = Model(name: "m0:q4_0", layerBytes: 4_000_000, parent: "m0")
    /// Ranges of 5 layers: the first costs 0.1, the second 0.2; the budget affords only the
    /// first.
    static let model = Model(
        name: "m0", layerBytes: 10_000_000,
        qualityBudget: budget(maxMeanKL: 0.15, variant: variant))

    /// A budget over one variant whose two 5-layer ranges cost 0.1 and 0.2.
    static func budget(maxMeanKL: Double, variant: Model) -> Tessera_V1_QualityBudget {
        .with {
            $0.maxMeanKl = maxMeanKL
            $0.variants = [
                .with {
                    $0.variant = variant.name
                    $0.variantSha256 = variant.sha256
                    $0.evaluationTokens = 2048
                    $0.ranges = [(0..<5, 0.1), (5..<10, 0.2)].map { range, kl in
                        .with {
                            $0.layers = Tessera_V1_LayerRange(range)
                            $0.meanKl = kl
                        }
                    }
                }
            ]
        }
    }

    @Test func theStageTheBudgetAllowsRunsOnTheVariantsShard() async throws {
        // 57 MB workers: each holds half of the model at full precision (55 MB and KV).
        try await MultiModelCluster.run(
            models: [Self.model, Self.variant], workers: ["w1", "w2"], memoryBytes: 57_000_000
        ) { api, cluster in
            #expect(
                try await eventually {
                    guard cluster.workers.allSatisfy({ !$0.loaded.isEmpty }) else { return false }
                    let pipelines = try await api.getPlacement(.init()).pipelines
                    return pipelines.first?.stages.allSatisfy(\.ready) ?? false
                })
            let pipeline = try #require(try await api.getPlacement(.init()).pipelines.first)
            let stages = pipeline.stages.map {
                ($0.layers.first, $0.layers.last, $0.shard.model.name)
            }
            // Layers 0-4 on the variant (KL 0.1), 5-9 as they are: 0-5 on the variant would
            // touch the second range too (0.3, over the budget).
            #expect(stages.map(\.0) == [0, 5] && stages.map(\.1) == [5, 10])
            #expect(stages.map(\.2) == ["m0:q4_0", "m0"])
            let summary = try await api.getPlacement(.init()).summary
            #expect(summary.contains("m0:q4_0") && summary.contains("quality budget KL 0.15"))
            let state = try #require(try await api.listModelStates(.init()).models.first)
            #expect(state.hasMaxMeanKl && state.maxMeanKl == 0.15 && state.variants == ["m0:q4_0"])
            // Kept over later ticks: the variant's shard is wanted, not unloaded.
            try await Task.sleep(for: .seconds(1))
            let models = Set(cluster.workers.flatMap(\.loadedModels))
            #expect(models == ["m0", "m0:q4_0"])
            #expect(cluster.workers.allSatisfy { $0.loaded.count == 1 })
        }
    }

    /// `tessera model serve` checks the fit as the plan loop will place the model: with its
    /// quality budget. 40 MB workers cannot hold half of a 110 MB model at full precision,
    /// but both halves on the variant (25 MB each) fit when the budget affords both ranges.
    @Test func aModelThatFitsOnlyWithItsVariantsIsServable() async throws {
        let small = Model(name: "small", layerBytes: 100_000)
        let variant = Model(name: "big:q4_0", layerBytes: 4_000_000, parent: "big")
        let budgeted = Model(
            name: "big", layerBytes: 10_000_000,
            qualityBudget: Self.budget(maxMeanKL: 0.35, variant: variant))
        let unbudgeted = Model(name: "plain", layerBytes: 10_000_000)
        try await MultiModelCluster.run(
            models: [small, budgeted, variant, unbudgeted], workers: ["w1", "w2"],
            memoryBytes: 40_000_000
        ) { api, cluster in
            let plain = await rpcFailure {
                _ = try await api.serveModel(
                    .with {
                        $0.model = "plain"
                        $0.servable = true
                    })
            }
            #expect(plain?.code == .failedPrecondition)
            _ = try await api.serveModel(
                .with {
                    $0.model = "big"
                    $0.servable = true
                })
            #expect(cluster.catalog.marks(of: "big")?.servable == true)
        }
    }
}
