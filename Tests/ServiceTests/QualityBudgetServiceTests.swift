import Foundation
import GRPCCore
import ServiceKit
import TesseraProto
import Testing

/// SetQualityBudget over an in-process transport: a budget naming a real variant of the
/// default model is recorded, returned by GetModel and ListModels, kept across a restart
/// (catalog migration "v4: quality budgets") and removed; requests the catalog contradicts
/// are refused with a status that says why and change nothing.
@Suite(.serialized, .timeLimit(.minutes(5))) struct QualityBudgetServiceTests {
    typealias H = CacheManagerHarness
    typealias F = ShardCutterFixtures

    static func budget(variant: Tessera_V1_ModelManifest, maxKL: Double) -> Tessera_V1_QualityBudget
    {
        .with {
            $0.maxMeanKl = maxKL
            $0.variants = [
                .with {
                    $0.variant = variant.model.name
                    $0.variantSha256 = variant.model.sha256
                    $0.evaluationTokens = 1024
                    $0.ranges = [(0..<15, 0.12), (15..<30, 0.2)].map { layers, kl in
                        .with {
                            $0.layers = Tessera_V1_LayerRange(layers)
                            $0.meanKl = kl
                        }
                    }
                }
            ]
        }
    }

    @Test func aBudgetIsRecordedListedKeptAcrossARestartAndRemoved() async throws {
        let store = try F.temporaryDirectory("store")
        defer { try? FileManager.default.removeItem(atPath: store) }
        _ = try F.model()
        let variant = try await H.serving(store: store, preload: [F.modelPath]) { api in
            let made = try await VariantServiceTests.makeVariants(
                api, model: "smollm2-135m", methods: ["q4_0"])
            let variant = try #require(made.variants.first?.model)
            let set = try await api.setQualityBudget(
                .with {
                    $0.model = "smollm2-135m"
                    $0.budget = Self.budget(variant: variant, maxKL: 0.15)
                })
            #expect(set.qualityBudget == Self.budget(variant: variant, maxKL: 0.15))

            // Refused, and the recorded budget stays as it was.
            var wrongFile = Self.budget(variant: variant, maxKL: 0.3)
            wrongFile.variants[0].variantSha256 = String(repeating: "a", count: 64)
            var gap = Self.budget(variant: variant, maxKL: 0.3)
            gap.variants[0].ranges.removeLast()
            var unknown = Self.budget(variant: variant, maxKL: 0.3)
            unknown.variants[0].variant = "smollm2-135m:q2_k"
            var negative = Self.budget(variant: variant, maxKL: 0.3)
            negative.variants[0].ranges[0].meanKl = -1
            let cases: [(String, Tessera_V1_QualityBudget, RPCError.Code, String)] = [
                ("smollm2-135m", wrongFile, .failedPrecondition, "measure it again"),
                ("smollm2-135m", gap, .invalidArgument, "cover layers 0 to 29"),
                ("smollm2-135m", unknown, .notFound, "smollm2-135m:q2_k"),
                ("smollm2-135m", negative, .invalidArgument, "mean_kl"),
                (
                    variant.model.name, Self.budget(variant: variant, maxKL: 0.3),
                    .failedPrecondition, "set the budget on its parent"
                ),
                ("nope", Self.budget(variant: variant, maxKL: 0.3), .notFound, "nope"),
            ]
            for (model, budget, code, message) in cases {
                let failure = await rpcFailure {
                    _ = try await api.setQualityBudget(
                        .with {
                            $0.model = model
                            $0.budget = budget
                        })
                }
                #expect(failure?.code == code, "\(message)")
                #expect(failure?.message.contains(message) == true, "\(failure?.message ?? "")")
            }
            let listed = try await api.listModels(.init()).models
            #expect(
                listed.first { $0.model.name == "smollm2-135m" }?.qualityBudget.maxMeanKl == 0.15)
            #expect(listed.first { $0.model.name == variant.model.name }?.hasQualityBudget == false)
            return variant
        }
        try await H.serving(store: store) { api in
            let kept = try await api.getModel(.with { $0.model = "smollm2-135m" })
            #expect(kept.qualityBudget == Self.budget(variant: variant, maxKL: 0.15))
            let cleared = try await api.setQualityBudget(.with { $0.model = "smollm2-135m" })
            #expect(!cleared.hasQualityBudget)
            #expect(!(try await api.getModel(.with { $0.model = "smollm2-135m" })).hasQualityBudget)
        }
    }
}
