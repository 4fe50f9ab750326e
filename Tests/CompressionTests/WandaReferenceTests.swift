import Foundation
import GGUF
import Inference
import Kernels
import ModelCompression
import ModelEvaluation
import Testing
import Tokenization

/// Wanda on the real model against NumPy (scripts/reference/wanda_reference.py): the input
/// norms the engine's observer gathers against numpy_llama's float64 forward pass on the same
/// tokens, and the pruned rows against NumPy's scoring on those norms.
@Suite(.serialized) struct WandaReferenceTests {
    static let modelPath = ModelLocator.path(forName: ModelLocator.defaultModelName)
    static let tokenCount = 96

    static func calibrationTokens() throws -> [Int32] {
        let text = try EvaluationText()
        let tokens = try Tokenizer(gguf: GGUFFile(path: modelPath)).encode(
            text.calibration, addSpecial: false)
        return Array(tokens.prefix(tokenCount))
    }

    static func tesseraNorms(_ tokens: [Int32]) throws -> InputNorms {
        let stage = try TransformerStage(path: modelPath, threads: 2)
        return try Calibration.inputNorms(stage: stage, tokens: tokens, windowLength: tokens.count)
    }

    @Test func inputNormsMatchAFloat64ForwardPass() throws {
        let tokens = try Self.calibrationTokens()
        let norms = try Self.tesseraNorms(tokens)
        #expect(norms.tokenCount == tokens.count)
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try PythonReference.write(tokens, to: directory + "/tokens.i32")
        try PythonReference.run(
            "wanda_reference.py",
            ["norms", Self.modelPath, directory + "/tokens.i32", directory + "/norms.f32"])
        let reference = try PythonReference.read(Float.self, from: directory + "/norms.f32")
        var offset = 0
        var worst = 0.0
        let layers = try ModelHyperparameters(gguf: GGUFFile(path: Self.modelPath)).layerCount
        for layer in 0..<layers {
            for site in MatmulInputSite.allCases {
                let ours = try #require(norms.norms(layer: layer, site: site))
                let theirs = Array(reference[offset..<(offset + ours.count)])
                offset += ours.count
                // Relative L2 distance of the norm vectors: the engine's products run on 8-bit
                // activations and an f16 KV cache, the reference in float64.
                var difference = 0.0
                var size = 0.0
                for index in 0..<ours.count {
                    difference += pow(Double(ours[index] - theirs[index]), 2)
                    size += pow(Double(theirs[index]), 2)
                }
                let relative = (difference / size).squareRoot()
                worst = max(worst, relative)
                // Layer 0's attention input is before any product: only float rounding apart.
                // Later sites inherit the 8-bit activation rounding (about 1-3%, largest at
                // the attention output).
                let bound = layer == 0 && site == .attentionInput ? 1e-4 : 0.04
                #expect(relative < bound, "layer \(layer) \(site): \(relative)")
            }
        }
        #expect(offset == reference.count)
        print("Wanda input norms against numpy float64: worst relative L2 difference \(worst)")
    }

    @Test(arguments: ["blk.3.ffn_down.weight", "blk.17.attn_q.weight", "blk.29.ffn_up.weight"])
    func prunedRowsMatchNumPyScoring(tensorName: String) throws {
        let tokens = try Self.calibrationTokens()
        let norms = try Self.tesseraNorms(tokens)
        let file = try GGUFFile(path: Self.modelPath)
        let tensor = try #require(file.tensor(named: tensorName))
        let columns = tensor.dimensions[0]
        let rows = tensor.dimensions[1]
        var original = [Float](repeating: 0, count: rows * columns)
        try original.withUnsafeMutableBufferPointer {
            try TensorRows.dequantize(
                tensor.type, file.bytes(of: tensor).baseAddress!, count: rows * columns,
                into: $0.baseAddress!)
        }
        let site = try #require(WandaTensorSite.site(of: tensorName))
        let columnNorms = try #require(norms.norms(layer: site.layer, site: site.site))
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try PythonReference.write(original, to: directory + "/weights.f32")
        try PythonReference.write(columnNorms, to: directory + "/norms.f32")
        for (pattern, code) in [
            (WandaPattern.unstructured(fraction: 0.5), "50"), (.twoOfFour, "24"),
        ] {
            var pruned = original
            try Wanda.transform(norms: norms, pattern: pattern)(tensorName, &pruned, rows, columns)
            try PythonReference.run(
                "wanda_reference.py",
                [
                    "prune", directory + "/weights.f32", "\(rows)", "\(columns)",
                    directory + "/norms.f32", code, directory + "/mask.u8",
                ])
            let kept = try PythonReference.read(UInt8.self, from: directory + "/mask.u8")
            var mismatches = 0
            var removed = 0
            for index in 0..<pruned.count {
                let expected = kept[index] == 1 ? original[index] : 0
                if pruned[index] != expected { mismatches += 1 }
                if kept[index] == 0 { removed += 1 }
            }
            #expect(mismatches == 0, "\(tensorName) \(code)")
            #expect(removed == pruned.count / 2)
        }
    }

    @Test func tooShortACalibrationTextIsRefused() throws {
        let stage = try TransformerStage(path: Self.modelPath, threads: 1)
        #expect(throws: Calibration.TooShort.self) {
            try Calibration.inputNorms(stage: stage, tokens: [1, 2, 3])
        }
    }

    private func temporaryDirectory() throws -> String {
        let path = NSTemporaryDirectory() + "wanda-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }
}
