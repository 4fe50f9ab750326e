import Foundation
import GGUF
import Inference
import ModelEvaluation
import Testing
import Tokenization

/// The evaluator's perplexity against llama.cpp's on the same tokens and window length
/// (scripts/reference/perplexity_reference.py, llama-cpp-python with every position's logits).
struct PerplexityReferenceTests {
    static let modelPath = ModelLocator.path(forName: ModelLocator.defaultModelName)

    @Test func perplexityAgreesWithLlamaCpp() throws {
        let contextLength = 512
        let tokenizer = try Tokenizer(gguf: GGUFFile(path: Self.modelPath))
        let tokens = Array(
            tokenizer.encode(try EvaluationText().evaluation, addSpecial: false).prefix(
                2 * contextLength))
        let windows = try PerplexityWindows(tokens: tokens, contextLength: contextLength)
        #expect(windows.windows.count == 2)
        #expect(windows.scoredTokenCount == 2 * 255)
        let stage = try TransformerStage(path: Self.modelPath, threads: 2)
        let ours = try QualityEvaluation.run(
            reference: stage, models: [], windows: windows, progress: { _ in }
        ).reference

        let file = NSTemporaryDirectory() + "ppl-\(UUID().uuidString).i32"
        defer { try? FileManager.default.removeItem(atPath: file) }
        try PythonReference.write(tokens, to: file)
        let output = try PythonReference.run(
            "perplexity_reference.py", [Self.modelPath, file, "\(contextLength)"])
        let line = try #require(output.split(separator: "\n").last)
        let reference = try JSONDecoder().decode(Reference.self, from: Data(line.utf8))
        #expect(reference.scored == ours.positions)
        let relative = abs(ours.perplexity - reference.perplexity) / reference.perplexity
        print(
            "perplexity: Tessera \(ours.perplexity), llama.cpp \(reference.perplexity), relative difference \(relative)"
        )
        // Both sit within about 0.4% of a float64 forward pass on the same dequantized weights
        // (docs/evaluation.md), on opposite sides: 0.7% apart.
        #expect(relative < 0.01)
        // The reference against itself: no divergence, always the same top token.
        #expect(ours.meanKLDivergence == 0)
        #expect(ours.sameTopTokenRate == 1)
    }

    @Test func windowsFollowLlamaPerplexity() throws {
        let tokens = (0..<1100).map { Int32($0) }
        let windows = try PerplexityWindows(tokens: tokens, contextLength: 512, bos: 1)
        #expect(windows.windows.count == 2)  // the partial third window is dropped
        #expect(windows.windows[1].first == 1)  // BOS replaces each window's first token
        #expect(windows.windows[1][1] == 513)
        #expect(windows.scoredRows == 256..<511)
        #expect(throws: PerplexityWindows.TooFewTokens.self) {
            try PerplexityWindows(tokens: [1, 2, 3], contextLength: 512)
        }
    }

    private struct Reference: Decodable {
        let perplexity: Double
        let scored: Int
    }
}
