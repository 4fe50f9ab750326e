import GGUF
import Inference
import Testing
import Tokenization

@Suite struct LocalGeneratorTests {
    @Test func greedyGenerationStreamsTextAndStopsAtTheBudget() throws {
        let file = try TestModel.file()
        let generator = try LocalGenerator(
            stage: try TransformerStage(file: file, layers: 0..<30, threads: 2),
            tokenizer: try Tokenizer(gguf: file))
        let prompt = generator.tokenizer.encode("The capital of France is")
        #expect(prompt == [504, 3575, 282, 4649, 314])
        var tokens: [GeneratedToken] = []
        let summary = try generator.generate(
            prompt: prompt, parameters: SamplingParameters(temperature: 0, maxTokens: 3),
            topLogits: 4
        ) {
            tokens.append($0)
        }
        #expect(summary.generatedTokens == 3 && tokens.count == 3)
        #expect(summary.stopReason == .maxTokens)
        #expect(tokens.first?.id == 7042)  // " Paris"
        #expect(tokens.map(\.text).joined().hasPrefix(" Paris"))
        #expect(tokens.allSatisfy { $0.topLogits.count == 4 && $0.topLogits[0].id == $0.id })
        #expect(
            tokens.allSatisfy {
                zip($0.topLogits, $0.topLogits.dropFirst()).allSatisfy { $0.logit >= $1.logit }
            })
    }

    @Test func partialStagesAreRejected() throws {
        let file = try TestModel.file()
        #expect(throws: InferenceError.self) {
            try LocalGenerator(
                stage: try TransformerStage(file: file, layers: 0..<10, threads: 1),
                tokenizer: try Tokenizer(gguf: file))
        }
    }
}
