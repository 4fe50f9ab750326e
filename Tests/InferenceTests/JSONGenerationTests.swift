import Foundation
import GGUF
import Inference
import Testing
import Tokenization

/// Constrained decoding with the real model: the output is JSON of the asked shape, and each
/// greedy token is the highest-logit token among those the grammar allows (checked against
/// masking the whole vocabulary at every step).
@Suite struct JSONGenerationTests {
    static let schema = """
        {"type":"object","properties":{"name":{"type":"string","maxLength":20},
        "age":{"type":"integer"},"languages":{"type":"array","items":{"type":"string"},"maxItems":3},
        "retired":{"type":"boolean"}},"required":["name","age","languages","retired"]}
        """

    @Test func greedyConstrainedTokensAreTheBestAllowedOnes() throws {
        let file = try TestModel.file()
        let stage = try TransformerStage(file: file, layers: 0..<30, threads: 2)
        let tokenizer = try Tokenizer(gguf: file)
        let vocabulary = TokenVocabulary(tokenizer: tokenizer)
        let prompt = tokenizer.encode(
            "<|im_start|>user\nDescribe Ada Lovelace as JSON.<|im_end|>\n<|im_start|>assistant\n",
            parseSpecial: true)
        let format = ResponseFormat.jsonSchema(Self.schema)
        let sampler = try Sampler(
            parameters: SamplingParameters(temperature: 0, responseFormat: format))
        var constraint = TokenConstraint(grammar: try format.grammar()!, vocabulary: vocabulary)
        let session = try stage.makeSession(contextLength: prompt.count + 120)
        var logits = try stage.forward(.tokens(prompt), session: session).values
        var output: [Int32] = []
        var unconstrainedDisagreed = 0
        for step in 0..<100 {
            let token = try sampler.sample(
                logits: logits, position: prompt.count + output.count,
                endOfGeneration: tokenizer.endOfGenerationTokenIDs, constraint: constraint)
            // Masking all 49,152 tokens takes a while: every third step is enough.
            if step % 3 == 0 {
                var best: Int32 = -1
                for id in 0..<Int32(logits.count) where constraint.allows(id) {
                    if best < 0 || logits[Int(id)] > logits[Int(best)] { best = id }
                }
                #expect(token == best, "step \(step)")
            }
            if TestModel.argmax(logits[...]) != Int(token) { unconstrainedDisagreed += 1 }
            try constraint.accept(token)
            if tokenizer.isEndOfGeneration(token) { break }
            output.append(token)
            logits = try stage.forward(.tokens([token]), session: session).values
        }
        let text = try tokenizer.decode(output)
        print("constrained greedy output: \(text)")
        let object = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]
        #expect(object?["name"] is String && object?["age"] is Int && object?["languages"] is [Any])
        #expect(object?["retired"] is Bool)
        #expect(constraint.state.isComplete)
        // The constraint did something: free decoding would have chosen otherwise somewhere.
        #expect(unconstrainedDisagreed > 0, "\(text)")
    }

    @Test func localGenerationStopsWhenTheDocumentIsComplete() throws {
        let file = try TestModel.file()
        let generator = try LocalGenerator(
            stage: try TransformerStage(file: file, layers: 0..<30, threads: 2),
            tokenizer: try Tokenizer(gguf: file))
        let prompt = generator.tokenizer.encode("A JSON object about cats:")
        var text = ""
        let summary = try generator.generate(
            prompt: prompt,
            parameters: SamplingParameters(
                temperature: 0.9, seed: 7, maxTokens: 200, responseFormat: .jsonObject)
        ) { text += $0.text }
        print("json_object output: \(text)")
        guard case .endOfGeneration? = summary.stopReason else {
            Issue.record("stopped by \(String(describing: summary.stopReason)): \(text)")
            return
        }
        #expect(
            (try? JSONSerialization.jsonObject(with: Data(text.utf8))) is [String: Any], "\(text)")
    }
}
