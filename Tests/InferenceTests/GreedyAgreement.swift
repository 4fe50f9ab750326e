import Inference
import Testing

/// Free-running greedy decoding (prefill, then one token at a time) against llama.cpp's
/// continuations in a logits fixture. Until the first difference both runs saw the same
/// tokens, so llama.cpp's teacher-forced margin at that position says whether it was a
/// near-tie; a divergence is only acceptable there. Shared by every real model's fidelity test.
enum GreedyAgreement {
    /// Records an issue for each divergence where llama.cpp was decisive and returns how many
    /// prompts matched completely.
    static func check(
        _ stage: TransformerStage, against fixture: LogitsFixture, decisiveMargin: Double,
        label: String
    ) throws -> Int {
        var fullMatches = 0
        for prompt in fixture.prompts {
            let session = try stage.makeSession(
                contextLength: prompt.prompt_ids.count + prompt.continuation_ids.count)
            var logits = try stage.forward(.tokens(prompt.prompt_ids), session: session).values
            var generated: [Int32] = []
            for _ in prompt.continuation_ids {
                let next = Int32(TestModel.argmax(logits[...]))
                generated.append(next)
                logits = try stage.forward(.tokens([next]), session: session).values
            }
            let agreed = zip(generated, prompt.continuation_ids).prefix { $0 == $1 }.count
            if agreed == prompt.continuation_ids.count {
                fullMatches += 1
            } else {
                let margin = prompt.positions[agreed].margin
                print(
                    "\(label) greedy \(prompt.name): first \(agreed)/\(prompt.continuation_ids.count) tokens agree; llama.cpp's margin there \(margin)"
                )
                #expect(
                    margin < decisiveMargin,
                    "\(prompt.name) diverges at \(agreed) where llama.cpp was decisive")
            }
        }
        print(
            "\(label) greedy: \(fullMatches)/\(fixture.prompts.count) prompts match llama.cpp's continuations fully"
        )
        return fullMatches
    }
}
