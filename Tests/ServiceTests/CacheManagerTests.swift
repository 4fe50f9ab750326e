import Foundation
import GGUF
import GRPCCore
import Integrity
import ModelStore
import ServiceKit
import TesseraProto
import Testing

/// The cache-manager in-process over gRPC (an in-process transport) with the real model: import, manifest,
/// shards cut once and downloaded (whole and resumed), the catalog across restarts.
@Suite(.serialized, .timeLimit(.minutes(5))) struct CacheManagerTests {
    typealias H = CacheManagerHarness
    typealias F = ShardCutterFixtures

    @Test func importByPathGivesTheManifestOfTheFile() async throws {
        let store = try F.temporaryDirectory("store")
        defer { try? FileManager.default.removeItem(atPath: store) }
        let model = try F.model()
        try await H.serving(store: store) { api in
            let first = try await api.importModel(.with { $0.path = F.modelPath })
            #expect(!first.alreadyPresent)
            let manifest = first.model
            #expect(manifest.model.sha256 == F.modelSHA256)
            #expect(manifest.model.name == "smollm2-135m")  // the known model's name, found by hash
            #expect(manifest.architecture == "llama")
            #expect(manifest.layerCount == 30 && manifest.layers.count == 30)
            #expect(manifest.embeddingLength == 576)
            #expect(manifest.vocabSize == 49152)
            #expect(manifest.contextLength == UInt32(model.metadata["llama.context_length"]!.int!))
            #expect(manifest.fileSize == UInt64(model.fileSize))
            #expect(manifest.fileType == "Q4_1")
            #expect(manifest.activationBytesPerToken == 576 * 4)
            #expect(manifest.tiedOutput)  // no output.weight: the head reuses token_embd.weight

            // Costs against the GGUF: every tensor counted once (the tied output head is the
            // embedding again), and per layer the bytes of its own tensors.
            let embedding = model.tensor(named: "token_embd.weight")!.byteCount
            let weights =
                manifest.layers.reduce(0) { $0 + $1.weightBytes } + manifest.embedding.weightBytes
                + manifest.output.weightBytes
            #expect(Int(weights) - embedding == model.tensors.reduce(0) { $0 + $1.byteCount })
            #expect(Int(weights) - embedding <= model.fileSize - model.dataOffset)
            let layer7 = model.tensors.filter { $0.name.hasPrefix("blk.7.") }.reduce(0) {
                $0 + $1.byteCount
            }
            #expect(manifest.layers[7].weightBytes == UInt64(layer7))
            #expect(manifest.embedding.weightBytes == UInt64(embedding))
            // Hand-computed for SmolLM2-135M: 576 wide, 1536 FFN, 9 heads of 64, 3 KV heads.
            let matrices = 2 * 576 * 576 + 2 * 576 * 192 + 3 * 576 * 1536
            #expect(manifest.layers[0].flopsPerToken == UInt64(2 * matrices + 2 * 9 * 128 * 512))
            #expect(manifest.layers.allSatisfy { $0.kvBytesPerToken == 2 * 3 * 64 * 2 })
            #expect(manifest.output.flopsPerToken == UInt64(2 * 49152 * 576 + 4 * 576))

            let again = try await api.importModel(.with { $0.path = F.modelPath })
            #expect(again.alreadyPresent && again.model.model == manifest.model)
            // empty = default model
            #expect(try await api.getModel(.init()).model == manifest.model)
            #expect(
                try await api.getModel(.with { $0.model = F.modelSHA256 }).model.name
                    == "smollm2-135m")
            #expect(try await api.listModels(.init()).models.map(\.model.sha256) == [F.modelSHA256])
        }
    }

    @Test func importByNameUsesTheFetchedFile() async throws {
        let store = try F.temporaryDirectory("store")
        defer { try? FileManager.default.removeItem(atPath: store) }
        try await H.serving(store: store) { api in
            // The model directory already holds the verified file, so nothing is downloaded.
            let first = try await api.importModel(.with { $0.name = "smollm2-135m" })
            #expect(!first.alreadyPresent && first.model.model.sha256 == F.modelSHA256)
            let second = try await api.importModel(.with { $0.name = "smollm2-135m" })
            #expect(second.alreadyPresent)
        }
    }

    @Test func shardsDownloadWholeAndResumed() async throws {
        let store = try F.temporaryDirectory("store")
        defer { try? FileManager.default.removeItem(atPath: store) }
        let recorder = LogRecorder()
        try await H.serving(store: store, recorder: recorder) { api in
            _ = try await api.importModel(.with { $0.path = F.modelPath })
            let manifest = try await api.getShard(.with { $0.layers = H.range(10, 20) })
            let shard = manifest.shard
            #expect(manifest.chunkSize == 1 << 20)
            #expect(shard.model.sha256 == F.modelSHA256 && shard.layers == H.range(10, 20))
            #expect(!shard.hasEmbedding_p && !shard.hasOutput_p)

            let started = ContinuousClock.now
            let chunks = try await H.download(api, sha256: shard.sha256)
            let elapsed = started.duration(to: .now)
            let bytes = chunks.flatMap { Array($0.data) }
            #expect(UInt64(bytes.count) == shard.sizeBytes)
            #expect(FileDigest.sha256Hex(of: bytes) == shard.sha256)
            #expect(chunks.dropLast().allSatisfy { $0.data.count == 1 << 20 })
            #expect(chunks.allSatisfy { $0.totalSize == shard.sizeBytes })
            var expectedOffset: UInt64 = 0
            for chunk in chunks {
                #expect(chunk.offset == expectedOffset)
                expectedOffset += UInt64(chunk.data.count)
            }
            let file = try GGUFFile(bytes: bytes)
            #expect(file.tensors.count == 90)
            #expect(
                Set(file.tensors.compactMap { ShardCutter.blockIndex(of: $0.name) }) == Set(10..<20)
            )
            #expect(file.metadata["tessera.shard.model_sha256"] == .string(F.modelSHA256))
            let seconds = elapsed.inSeconds
            print(
                "cache-manager: downloaded \(bytes.count) bytes in \(seconds) s = \(Double(bytes.count) / seconds / 1e6) MB/s"
            )

            // Resume from an offset inside a chunk; at the end, one empty chunk; past it, OUT_OF_RANGE.
            let offset = UInt64(3 << 20) + 17
            let rest = try await H.download(api, sha256: shard.sha256, offset: offset)
            #expect(rest.first?.offset == offset)
            #expect(rest.flatMap { Array($0.data) } == Array(bytes[Int(offset)...]))
            let atEnd = try await H.download(api, sha256: shard.sha256, offset: shard.sizeBytes)
            #expect(
                atEnd.count == 1 && atEnd[0].data.isEmpty && atEnd[0].totalSize == shard.sizeBytes)
            let past = await rpcFailure {
                _ = try await H.download(api, sha256: shard.sha256, offset: shard.sizeBytes + 1)
            }
            #expect(past?.code == .outOfRange)

            // Asked again: the same shard, not cut again; the model manifest lists it.
            let again = try await api.getShard(
                .with {
                    $0.model = "smollm2-135m"
                    $0.layers = H.range(10, 20)
                })
            #expect(again.shard == shard)
            #expect(recorder.count(of: "shard cut") == 1)
            #expect(try await api.getModel(.init()).shards == [shard])
        }
    }

    @Test func concurrentRequestsForOneShardCutItOnce() async throws {
        let store = try F.temporaryDirectory("store")
        defer { try? FileManager.default.removeItem(atPath: store) }
        let recorder = LogRecorder()
        try await H.serving(store: store, recorder: recorder) { api in
            _ = try await api.importModel(.with { $0.path = F.modelPath })
            let shas = try await withThrowingTaskGroup(of: String.self) { group in
                for _ in 0..<4 {
                    group.addTask {
                        try await api.getShard(.with { $0.layers = H.range(20, 30) }).shard.sha256
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(Set(shas).count == 1 && shas.count == 4)
            #expect(recorder.count(of: "shard cut") == 1)
            let shardFiles = try FileManager.default.contentsOfDirectory(atPath: store + "/shards")
            #expect(shardFiles == ["\(shas[0]).gguf"])
        }
    }

    @Test func theCatalogSurvivesARestart() async throws {
        let store = try F.temporaryDirectory("store")
        defer { try? FileManager.default.removeItem(atPath: store) }
        let (vocabulary, last) = try await H.serving(store: store) { api in
            _ = try await api.importModel(.with { $0.path = F.modelPath })
            let vocabulary = try await api.getShard(.with { $0.layers = H.range(0, 0) }).shard
            let last = try await api.getShard(.with { $0.layers = H.range(25, 30) }).shard
            return (vocabulary, last)
        }
        #expect(vocabulary.sizeBytes > 0 && !vocabulary.hasEmbedding_p && !vocabulary.hasOutput_p)
        #expect(last.hasOutput_p)

        let recorder = LogRecorder()
        try await H.serving(store: store, recorder: recorder) { api in
            let models = try await api.listModels(.init()).models
            #expect(models.map(\.model.sha256) == [F.modelSHA256])
            #expect(models.first?.shards == [vocabulary, last])
            #expect(try await api.getShard(.with { $0.layers = H.range(25, 30) }).shard == last)
            #expect(recorder.count(of: "shard cut") == 0)
            print(
                "cache-manager: catalog reopened in \(recorder.entries("catalog open").first?.metadata["seconds"] ?? "?") s"
            )

            // A shard file lost from the store is cut again, to the same bytes, on request.
            try FileManager.default.removeItem(atPath: "\(store)/shards/\(last.sha256).gguf")
            let chunks = try await H.download(api, sha256: last.sha256)
            #expect(FileDigest.sha256Hex(of: chunks.flatMap { Array($0.data) }) == last.sha256)
            #expect(recorder.count(of: "shard cut") == 1)
        }
    }

    @Test func preloadedModelsAreThereWhenServing() async throws {
        let store = try F.temporaryDirectory("store")
        defer { try? FileManager.default.removeItem(atPath: store) }
        let models = try await H.serving(store: store, preload: [F.modelPath]) { api in
            try await api.listModels(.init()).models
        }
        #expect(models.map(\.model.name) == ["smollm2-135m"])

        // A preload that cannot be imported stops the service with the reason.
        let failing = try await H.start(store: store, preload: ["/no/such/model.gguf"])
        await #expect {
            try await failing.wait()
        } throws: { error in
            "\(error)".contains("cannot preload /no/such/model.gguf")
                && "\(error)".contains("cannot open")
        }
        #expect(await !HealthProbe.isServing(failing.addresses.grpc))
    }
}
