import Foundation
import GRPCCore
import ServiceKit
import TesseraProto
import Testing

/// Bad requests get a status that says what is wrong, never a crash or a hang.
@Suite(.serialized, .timeLimit(.minutes(3))) struct CacheManagerErrorTests {
    typealias H = CacheManagerHarness
    typealias F = ShardCutterFixtures

    @Test func badImportsAreNamed() async throws {
        let store = try F.temporaryDirectory("store")
        defer { try? FileManager.default.removeItem(atPath: store) }
        let garbage = try F.write(
            Array("definitely not a model".utf8), named: "garbage.gguf", in: store)
        try await H.serving(store: store) { api in
            let missing = await rpcFailure {
                _ = try await api.importModel(.with { $0.path = store + "/absent.gguf" })
            }
            #expect(missing?.code == .invalidArgument)
            #expect(missing?.message.contains("cannot open GGUF file \(store)/absent.gguf") == true)
            let notGGUF = await rpcFailure {
                _ = try await api.importModel(.with { $0.path = garbage })
            }
            #expect(notGGUF?.code == .invalidArgument)
            #expect(notGGUF?.message.contains("not a GGUF file") == true)
            let directory = await rpcFailure {
                _ = try await api.importModel(.with { $0.path = store })
            }
            #expect(directory?.code == .invalidArgument)
            let empty = await rpcFailure { _ = try await api.importModel(.init()) }
            #expect(empty?.code == .invalidArgument)
            let unknown = await rpcFailure {
                _ = try await api.importModel(.with { $0.name = "no-such-model" })
            }
            #expect(unknown?.code == .notFound)
            #expect(unknown?.message.contains("smollm2-135m") == true)  // lists what is known
            let models = try await api.listModels(.init()).models
            #expect(models.isEmpty)
        }
    }

    @Test func unknownModelsAndShardsAreNotFound() async throws {
        let store = try F.temporaryDirectory("store")
        defer { try? FileManager.default.removeItem(atPath: store) }
        try await H.serving(store: store) { api in
            let noDefault = await rpcFailure { _ = try await api.getModel(.init()) }
            #expect(noDefault?.code == .notFound)
            #expect(noDefault?.message.contains("smollm2-135m") == true)
            let noShardModel = await rpcFailure {
                _ = try await api.getShard(.with { $0.model = "llama-70b" })
            }
            #expect(noShardModel?.code == .notFound)
            let unknownShard = await rpcFailure {
                _ = try await H.download(api, sha256: String(repeating: "a", count: 64))
            }
            #expect(unknownShard?.code == .notFound)
            let malformed = await rpcFailure { _ = try await H.download(api, sha256: "xyz") }
            #expect(malformed?.code == .invalidArgument)
        }
    }

    @Test func badLayerRangesAreInvalid() async throws {
        let store = try F.temporaryDirectory("store")
        defer { try? FileManager.default.removeItem(atPath: store) }
        try await H.serving(store: store) { api in
            _ = try await api.importModel(.with { $0.path = F.modelPath })
            for (first, last) in [(20, 10), (25, 31), (5, 5), (30, 30), (40, 50)] {
                let failure = await rpcFailure {
                    _ = try await api.getShard(.with { $0.layers = H.range(first, last) })
                }
                #expect(failure?.code == .invalidArgument, "[\(first), \(last))")
            }
            let past = await rpcFailure {
                _ = try await api.getShard(.with { $0.layers = H.range(0, 31) })
            }
            #expect(past?.message.contains("30 layers") == true)
            #expect(try await api.getModel(.init()).shards.isEmpty)
        }
    }

    @Test func nameClashesAndChangedFilesAreRefused() async throws {
        let store = try F.temporaryDirectory("store")
        defer { try? FileManager.default.removeItem(atPath: store) }
        let tiny = try F.write(try F.tinyModel(), named: "tiny.gguf", in: store)
        try await H.serving(store: store) { api in
            _ = try await api.importModel(.with { $0.path = F.modelPath })
            let clash = await rpcFailure {
                _ = try await api.importModel(
                    .with {
                        $0.path = tiny
                        $0.displayName = "smollm2-135m"
                    })
            }
            #expect(clash?.code == .alreadyExists)
            let imported = try await api.importModel(.with { $0.path = tiny })
            #expect(imported.model.model.name == "tiny" && imported.model.layerCount == 2)
            #expect(
                try await api.getShard(
                    .with {
                        $0.model = "tiny"
                        $0.layers = H.range(0, 1)
                    }
                ).shard.hasEmbedding_p)

            // The file is rewritten with other bytes: cutting from it now would lie about the model.
            try await Task.sleep(for: .milliseconds(20))  // a different modification time
            _ = try F.write(try F.tinyModel(alignment: 64), named: "tiny.gguf", in: store)
            let changed = await rpcFailure {
                _ = try await api.getShard(
                    .with {
                        $0.model = "tiny"
                        $0.layers = H.range(1, 2)
                    })
            }
            #expect(changed?.code == .failedPrecondition)
            #expect(changed?.message.contains("changed since it was imported") == true)

            // A model file that is gone.
            try FileManager.default.removeItem(atPath: tiny)
            let gone = await rpcFailure {
                _ = try await api.getShard(
                    .with {
                        $0.model = "tiny"
                        $0.layers = H.range(0, 2)
                    })
            }
            #expect(gone?.code == .failedPrecondition)
        }
    }
}
