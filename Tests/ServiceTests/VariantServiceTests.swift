import Foundation
import GGUF
import GRPCCore
import Integrity
import ServiceKit
import TesseraProto
import Testing

/// MakeVariants over an in-process transport: variants of the real default model are
/// recorded under `<parent>:<method>` with their parent, method and fallbacks, served like
/// any model (GetModel, GetShard), made once; bad requests get a status that says why and
/// leave the catalog as it was.
@Suite(.serialized, .timeLimit(.minutes(5))) struct VariantServiceTests {
    typealias H = CacheManagerHarness
    typealias F = ShardCutterFixtures

    struct Collected {
        var progress: [Tessera_V1_VariantProgress] = []
        var variants: [Tessera_V1_VariantMade] = []
    }

    static func makeVariants(
        _ api: H.InProcessAPI, model: String, methods: [String], calibration: String = ""
    ) async throws -> Collected {
        try await api.makeVariants(
            .with {
                $0.model = model
                $0.methods = methods
                $0.calibrationText = calibration
            }, options: .timeout(.seconds(240))
        ) { response in
            var collected = Collected()
            for try await event in response.messages {
                switch event.event {
                case .progress(let progress)?: collected.progress.append(progress)
                case .variant(let made)?: collected.variants.append(made)
                case nil: break
                }
            }
            return collected
        }
    }

    @Test func variantsOfTheDefaultModelAreRecordedAndServed() async throws {
        let store = try F.temporaryDirectory("store")
        defer { try? FileManager.default.removeItem(atPath: store) }
        _ = try F.model()  // skips with a clear message when the model is not fetched
        try await H.serving(store: store, preload: [F.modelPath]) { api in
            let made = try await Self.makeVariants(
                api, model: "smollm2-135m", methods: ["q4_0", "q4_k"])
            #expect(
                made.variants.map(\.model.model.name) == ["smollm2-135m:q4_0", "smollm2-135m:q4_k"])
            #expect(made.variants.allSatisfy { !$0.alreadyPresent && $0.seconds > 0 })
            // Progress per tensor (272 each), in order within each variant, ending at 1.
            for (index, method) in ["q4_0", "q4_k"].enumerated() {
                let steps = made.progress.filter { $0.index == UInt32(index) }
                #expect(steps.allSatisfy { $0.method == method && $0.count == 2 })
                #expect(steps.count > 10)
                #expect(steps.map(\.fraction) == steps.map(\.fraction).sorted())
                #expect(steps.last?.fraction == 1)
            }

            let q4_0 = made.variants[0].model
            #expect(q4_0.variant.parentSha256 == F.modelSHA256)
            #expect(q4_0.variant.parentName == "smollm2-135m")
            #expect(q4_0.variant.method == "q4_0")
            #expect(q4_0.variant.fallbacks.isEmpty)
            #expect(q4_0.fileType == "Q4_0")
            // Q4_0 layer weights (18 bytes per 32 against Q4_1's 20), the Q8_0 table kept.
            #expect(q4_0.fileSize < 98_362_432 && q4_0.fileSize > 90_000_000)
            let path = store + "/models/smollm2-135m_q4_0.gguf"
            #expect(try FileDigest.sha256Hex(ofFile: path) == q4_0.model.sha256)
            let file = try GGUFFile(path: path)
            #expect(file.tensor(named: "blk.3.ffn_down.weight")?.type == .q4_0)
            #expect(file.tensor(named: "token_embd.weight")?.type == .q8_0)
            #expect(file.tensor(named: "blk.3.attn_norm.weight")?.type == .f32)

            // Q4_K: every 576-wide row falls back to Q5_0 as in llama.cpp; ffn_down (1536) is Q4_K.
            let q4_k = made.variants[1].model
            #expect(q4_k.variant.fallbacks.count == 30 * 6)
            #expect(q4_k.variant.fallbacks.allSatisfy { $0.wanted == "Q4_K" && $0.used == "Q5_0" })
            #expect(!q4_k.variant.fallbacks.contains { $0.tensor.hasSuffix("ffn_down.weight") })

            let listed = try await api.listModels(.init()).models
            #expect(
                Set(listed.map(\.model.name)) == [
                    "smollm2-135m", "smollm2-135m:q4_0", "smollm2-135m:q4_k",
                ])
            #expect(listed.first { $0.model.name == "smollm2-135m" }?.hasVariant == false)
            #expect(listed.first { $0.model.name == "smollm2-135m:q4_k" }?.variant.method == "q4_k")

            // Served like any model: resolved by name, cut into shards.
            let manifest = try await api.getModel(.with { $0.model = "smollm2-135m:q4_0" })
            #expect(manifest.model.sha256 == q4_0.model.sha256)
            let shard = try await api.getShard(
                .with {
                    $0.model = "smollm2-135m:q4_0"
                    $0.layers = H.range(0, 15)
                })
            #expect(shard.shard.model.name == "smollm2-135m:q4_0")
            let shardFile = try GGUFFile(path: store + "/shards/\(shard.shard.sha256).gguf")
            #expect(shardFile.tensor(named: "blk.14.attn_q.weight")?.type == .q4_0)

            // Asked again: already present, nothing made.
            let again = try await Self.makeVariants(api, model: F.modelSHA256, methods: ["Q4_0"])
            #expect(again.variants.map(\.alreadyPresent) == [true])
            #expect(again.variants.first?.model.model.sha256 == q4_0.model.sha256)
            #expect(again.progress.isEmpty)

            // A variant of a variant: refused, since quality would only be lost twice.
            let nested = await rpcFailure {
                _ = try await Self.makeVariants(api, model: "smollm2-135m:q4_0", methods: ["q2_k"])
            }
            #expect(nested?.code == .failedPrecondition)
            #expect(nested?.message.contains("make variants from its parent smollm2-135m") == true)
        }
    }

    @Test func badRequestsAreNamedAndChangeNothing() async throws {
        let store = try F.temporaryDirectory("store")
        defer { try? FileManager.default.removeItem(atPath: store) }
        let tiny = try F.write(try F.tinyModel(), named: "tiny.gguf", in: store)
        try await H.serving(store: store, preload: [tiny]) { api in
            let unknownModel = await rpcFailure {
                _ = try await Self.makeVariants(api, model: "nope", methods: ["q4_0"])
            }
            #expect(unknownModel?.code == .notFound)
            #expect(
                unknownModel?.message.contains("model 'nope' is not in the catalog (it has: tiny)")
                    == true)

            let unknownMethod = await rpcFailure {
                _ = try await Self.makeVariants(api, model: "tiny", methods: ["q4_0", "q7"])
            }
            #expect(unknownMethod?.code == .invalidArgument)
            #expect(unknownMethod?.message.contains("unknown variant method 'q7'") == true)
            #expect(
                unknownMethod?.message.contains(
                    "q8_0, q4_0, q4_1, q5_0, q5_1, q4_k, q5_k, q6_k, q3_k, q2_k") == true)

            let noCalibration = await rpcFailure {
                _ = try await Self.makeVariants(api, model: "tiny", methods: ["wanda50-q4_0"])
            }
            #expect(noCalibration?.code == .invalidArgument)
            #expect(noCalibration?.message.contains("needs calibration_text") == true)

            // A full disk: RESOURCE_EXHAUSTED, the partial file gone, nothing recorded.
            let partial = store + "/models/tiny_q8_0.gguf.partial"
            try FileManager.default.createSymbolicLink(
                atPath: partial, withDestinationPath: "/dev/full")
            let full = await rpcFailure {
                _ = try await Self.makeVariants(api, model: "tiny", methods: ["q8_0"])
            }
            #expect(full?.code == .resourceExhausted)
            #expect(full?.message.contains("no space left on the device") == true)
            #expect((try? FileManager.default.destinationOfSymbolicLink(atPath: partial)) == nil)
            #expect(!FileManager.default.fileExists(atPath: store + "/models/tiny_q8_0.gguf"))
            #expect(try await api.listModels(.init()).models.map(\.model.name) == ["tiny"])

            // Then it works, and a truncated parent is refused before anything is written.
            let made = try await Self.makeVariants(api, model: "tiny", methods: ["q8_0"])
            #expect(made.variants.map(\.model.model.name) == ["tiny:q8_0"])
            let bytes = try Data(contentsOf: URL(fileURLWithPath: tiny))
            try bytes.prefix(bytes.count - 512).write(to: URL(fileURLWithPath: tiny))
            let truncated = await rpcFailure {
                _ = try await Self.makeVariants(api, model: "tiny", methods: ["q4_0"])
            }
            #expect(truncated?.code == .failedPrecondition)
            #expect(truncated?.message.contains("changed since it was imported") == true)
            #expect(
                try await api.listModels(.init()).models.map(\.model.name) == ["tiny", "tiny:q8_0"])
        }
    }

    @Test func aRestartRemovesPartialFiles() async throws {
        let store = try F.temporaryDirectory("store")
        defer { try? FileManager.default.removeItem(atPath: store) }
        try FileManager.default.createDirectory(
            atPath: store + "/models", withIntermediateDirectories: true)
        let leftover = store + "/models/tiny_q4_0.gguf.partial"
        try Data("half a variant".utf8).write(to: URL(fileURLWithPath: leftover))
        try await H.serving(store: store) { _ in
            #expect(!FileManager.default.fileExists(atPath: leftover))
        }
    }
}
