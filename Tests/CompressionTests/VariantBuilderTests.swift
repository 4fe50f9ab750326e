import Foundation
import GGUF
import Kernels
import ModelCompression
import Testing

/// The builder on a small synthetic model: which tensors change and into what, what is
/// copied, the metadata, and that a failed write never leaves a file under the final name.
/// (That its blocks equal ggml's quantizer on the same floats is checked against llama.cpp
/// in Tests/System/test_variants.py; the quantizers themselves in KernelsTests.)
@Suite(.serialized) struct VariantBuilderTests {
    static let parentSHA256 = String(repeating: "ab", count: 32)
    static let layerWeights = [
        "attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down",
    ]

    static func isLayerWeight(_ name: String) -> Bool {
        name.hasPrefix("blk.") && layerWeights.contains { name.hasSuffix(".\($0).weight") }
    }

    @Test(arguments: VariantMethod.quantizationMethods)
    func everyTypeConvertsTheLayerWeightsOnly(method: VariantMethod) throws {
        let (directory, path) = try VariantFixtures.writeModel()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let output = directory + "/variant.gguf"
        let report = try VariantBuilder.build(
            source: path, method: method, output: output, parentSHA256: Self.parentSHA256)
        let source = try GGUFFile(path: path)
        let variant = try GGUFFile(path: output)
        #expect(variant.tensors.map(\.name) == source.tensors.map(\.name))
        #expect(report.sizeBytes == variant.fileSize)
        #expect(report.convertedTensors == 14)

        let fallback = BlockTypeFallback.storedType(wanted: method.layerType, rowLength: 320)!
        for tensor in source.tensors {
            let stored = try #require(variant.tensor(named: tensor.name))
            #expect(stored.dimensions == tensor.dimensions)
            let sourceBytes = Array(source.bytes(of: tensor))
            guard Self.isLayerWeight(tensor.name) else {
                #expect(stored.type == tensor.type, "\(tensor.name)")
                #expect(Array(variant.bytes(of: stored)) == sourceBytes, "\(tensor.name)")
                continue
            }
            let expectedType =
                tensor.name.hasSuffix("ffn_down.weight") ? fallback : method.layerType
            #expect(stored.type == expectedType, "\(tensor.name)")
            let floats = try TensorRows.dequantize(
                tensor.type, bytes: sourceBytes, count: tensor.elementCount)
            #expect(
                Array(variant.bytes(of: stored))
                    == (try TensorRows.quantize(floats, as: expectedType)))
        }

        let downs = ["blk.0.ffn_down.weight", "blk.1.ffn_down.weight"]
        if fallback == method.layerType {
            #expect(report.fallbacks.isEmpty)
        } else {
            #expect(report.fallbacks.map(\.tensor) == downs)
            #expect(
                report.fallbacks.allSatisfy {
                    $0.wanted == method.layerType.name && $0.used == fallback.name
                })
            #expect(
                variant.metadata[VariantBuilder.fallbacksKey]
                    == .array(
                        downs.map { .string("\($0):\(method.layerType.name)->\(fallback.name)") }))
        }
        #expect(variant.metadata[VariantBuilder.methodKey] == .string(method.description))
        #expect(variant.metadata[VariantBuilder.parentSHA256Key] == .string(Self.parentSHA256))
        #expect(variant.metadata["general.name"] == .string("variant fixture"))
        let fileTypes: [GGMLType: UInt32] = [
            .q4_0: 2, .q4_1: 3, .q8_0: 7, .q5_0: 8, .q5_1: 9, .q2_K: 10, .q3_K: 11, .q4_K: 14,
            .q5_K: 16, .q6_K: 18,
        ]
        #expect(variant.metadata["general.file_type"] == .uint32(fileTypes[method.layerType]!))
        #expect(!FileManager.default.fileExists(atPath: output + VariantBuilder.partialSuffix))
    }

    @Test func anEmbeddingChoiceConvertsTheTable() throws {
        let (directory, path) = try VariantFixtures.writeModel()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let output = directory + "/variant.gguf"
        let method = try VariantMethod(parsing: "q4_k+emb:q6_k")
        let report = try VariantBuilder.build(source: path, method: method, output: output)
        let variant = try GGUFFile(path: output)
        #expect(variant.tensor(named: "token_embd.weight")?.type == .q6_K)
        #expect(variant.tensor(named: "blk.0.attn_q.weight")?.type == .q4_K)
        #expect(variant.tensor(named: "blk.0.attn_norm.weight")?.type == .f32)
        #expect(report.convertedTensors == 15)
        #expect(variant.metadata[VariantBuilder.parentSHA256Key] == nil)
    }

    /// As llama-quantize: a tensor already in the wanted type is kept bit for bit.
    @Test func aTensorAlreadyInTheTypeIsCopied() throws {
        let (directory, path) = try VariantFixtures.writeModel()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let first = directory + "/q5_0.gguf"
        _ = try VariantBuilder.build(
            source: path, method: VariantMethod(layerType: .q5_0), output: first)
        let second = directory + "/q4_k.gguf"
        let report = try VariantBuilder.build(
            source: first, method: VariantMethod(layerType: .q4_K), output: second)
        // ffn_down falls back to Q5_0, which it already is: copied.
        #expect(report.convertedTensors == 12)
        let a = try GGUFFile(path: first)
        let b = try GGUFFile(path: second)
        let down = try #require(a.tensor(named: "blk.1.ffn_down.weight"))
        #expect(Array(b.bytes(of: b.tensor(named: down.name)!)) == Array(a.bytes(of: down)))
    }

    @Test func progressCoversEveryTensorAndEndsAtOne() throws {
        let (directory, path) = try VariantFixtures.writeModel()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let calls = ProgressCalls()
        _ = try VariantBuilder.build(
            source: path, method: VariantMethod(layerType: .q4_0), output: directory + "/v.gguf",
            progress: { fraction, message in calls.append(fraction, message) })
        let recorded = calls.values
        #expect(recorded.count == VariantFixtures.tensors().count + 1)
        #expect(recorded.map(\.0) == recorded.map(\.0).sorted())
        #expect(recorded.last?.0 == 1)
        #expect(recorded.contains { $0.1 == "blk.1.ffn_down.weight Q4_0" })
    }

    /// A full disk (writes to /dev/full fail with ENOSPC): a clear error, no file under the
    /// final name and the partial file gone.
    @Test func aFullDiskLeavesNoFile() throws {
        let (directory, path) = try VariantFixtures.writeModel()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let output = directory + "/variant.gguf"
        let partial = output + VariantBuilder.partialSuffix
        try FileManager.default.createSymbolicLink(
            atPath: partial, withDestinationPath: "/dev/full")
        #expect(throws: VariantBuildError.diskFull(path: output)) {
            try VariantBuilder.build(
                source: path, method: VariantMethod(layerType: .q8_0), output: output)
        }
        #expect(!FileManager.default.fileExists(atPath: output))
        #expect((try? FileManager.default.destinationOfSymbolicLink(atPath: partial)) == nil)
    }

    @Test func aTruncatedSourceIsRefusedAndNothingIsWritten() throws {
        let (directory, path) = try VariantFixtures.writeModel()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        let truncated = directory + "/truncated.gguf"
        try bytes.prefix(bytes.count - 1000).write(to: URL(fileURLWithPath: truncated))
        let output = directory + "/variant.gguf"
        do {
            _ = try VariantBuilder.build(
                source: truncated, method: VariantMethod(layerType: .q4_0), output: output)
            Issue.record("a truncated source was accepted")
        } catch {
            guard case .unreadableSource(let reported, let reason) = error else {
                Issue.record("unexpected \(error)")
                return
            }
            #expect(reported == truncated)
            #expect(reason.contains("past the end"))
        }
        let garbage = directory + "/garbage.gguf"
        try Data("not a model at all".utf8).write(to: URL(fileURLWithPath: garbage))
        #expect(
            throws: VariantBuildError.unreadableSource(path: garbage, reason: "not a GGUF file")
        ) {
            try VariantBuilder.build(
                source: garbage, method: VariantMethod(layerType: .q4_0), output: output)
        }
        #expect(!FileManager.default.fileExists(atPath: output))
        #expect(!FileManager.default.fileExists(atPath: output + VariantBuilder.partialSuffix))
    }

    @Test func pruningNeedsCalibrationText() throws {
        let (directory, path) = try VariantFixtures.writeModel()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let method = try VariantMethod(parsing: "wanda50-q4_0")
        #expect(throws: VariantBuildError.calibrationTextMissing(method: "wanda50-q4_0")) {
            try VariantBuilder.build(source: path, method: method, output: directory + "/v.gguf")
        }
    }
}

/// Progress calls, gathered from the builder's callback.
final class ProgressCalls: @unchecked Sendable {  // @unchecked: guarded by the lock
    private let lock = NSLock()
    private var recorded: [(Double, String)] = []

    func append(_ fraction: Double, _ message: String) {
        lock.lock()
        recorded.append((fraction, message))
        lock.unlock()
    }

    var values: [(Double, String)] {
        lock.lock()
        defer { lock.unlock() }
        return recorded
    }
}
