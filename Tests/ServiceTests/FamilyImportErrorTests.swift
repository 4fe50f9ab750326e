import Foundation
import GGUF
import GRPCCore
import ServiceKit
import TesseraProto
import Testing

/// A model that is not one Tessera can serve is refused by the cache-manager's ImportModel
/// over gRPC, with a status a client can act on: an unsupported architecture by its name and
/// the supported list, a model whose tensors do not match its family by the tensor's name.
/// Nothing is recorded in the catalog. (ModelAnalysis and the engine are checked directly in
/// FamilyShardTests and FamilyFidelityTests; this is the service's edge.)
@Suite(.serialized, .timeLimit(.minutes(3))) struct FamilyImportErrorTests {
    typealias H = CacheManagerHarness
    typealias F = ShardCutterFixtures

    @Test func importRefusesWhatNoFamilyDescribes() async throws {
        let store = try F.temporaryDirectory("store")
        defer { try? FileManager.default.removeItem(atPath: store) }
        let qwen2 = try FamilyModelFiles.file("qwen2-q8_0")
        let unsupported = try Self.write(
            qwen2, named: "mamba.gguf", in: store,
            metadata: ["general.architecture": .string("mamba")])
        let missing = try Self.write(qwen2, named: "no-k.gguf", in: store) { tensor in
            tensor.name == "blk.1.attn_k.weight" ? nil : tensor.dimensions
        }
        let misshapen = try Self.write(qwen2, named: "short-down.gguf", in: store) { tensor in
            tensor.name == "blk.0.ffn_down.weight"
                ? [tensor.dimensions[0], tensor.dimensions[1] / 2] : tensor.dimensions
        }
        try await H.serving(store: store) { api in
            let architecture = await rpcFailure {
                _ = try await api.importModel(.with { $0.path = unsupported })
            }
            #expect(architecture?.code == .invalidArgument)
            #expect(
                architecture?.message.contains("'mamba'") == true, "\(architecture?.message ?? "")")
            #expect(
                architecture?.message.contains("llama, qwen2, qwen3, phi3, gemma3") == true,
                "\(architecture?.message ?? "")")

            let absent = await rpcFailure {
                _ = try await api.importModel(.with { $0.path = missing })
            }
            #expect(absent?.code == .invalidArgument)
            #expect(
                absent?.message.contains("blk.1.attn_k.weight") == true, "\(absent?.message ?? "")")

            let shape = await rpcFailure {
                _ = try await api.importModel(.with { $0.path = misshapen })
            }
            #expect(shape?.code == .invalidArgument)
            #expect(
                shape?.message.contains("blk.0.ffn_down.weight") == true, "\(shape?.message ?? "")")

            let models = try await api.listModels(.init()).models
            #expect(models.isEmpty)
        }
    }

    /// A copy of `model` at `store/name` with `metadata` overriding its keys and each tensor
    /// given the dimensions `dimensions` returns (nil: left out). Tensor bytes are copied as
    /// they are, so a changed shape is declared only, as in a corrupt or mislabelled file.
    static func write(
        _ model: GGUFFile, named name: String, in store: String,
        metadata: [String: GGUFValue] = [:],
        dimensions: (GGUFTensorInfo) -> [Int]? = { $0.dimensions }
    ) throws -> String {
        var writer = GGUFWriter(alignment: model.alignment)
        for key in model.metadataKeys { writer.set(key, metadata[key] ?? model.metadata[key]!) }
        for tensor in model.tensors {
            guard let declared = dimensions(tensor) else { continue }
            let bytes = Array(model.bytes(of: tensor))
            let kept = try tensor.type.byteCount(elements: declared.reduce(1, *))
            try writer.addTensor(
                name: tensor.name, dimensions: declared, type: tensor.type,
                bytes: Array(bytes.prefix(kept)))
        }
        return try F.write(try writer.encoded(), named: name, in: store)
    }
}
