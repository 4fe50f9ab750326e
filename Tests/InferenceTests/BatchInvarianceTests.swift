import GGUF
import Inference
import Testing
import Tokenization

/// A session's logits are bit-identical whether its decode steps run alone or batched with
/// other sessions (batches of 2, 7 and 16), on a whole-model stage and on split stages.
@Suite struct BatchInvarianceTests {
    static let prompts = [
        "The capital of France is", "Once upon a time", "def fibonacci(n):", "Water boils at",
        "The three primary colors are", "In 1969, astronauts", "My favourite recipe uses",
        "Quantum computers differ from", "The quick brown fox", "A haiku about rain:",
        "To be or not to be", "SELECT name FROM", "The mitochondria is", "Dear hiring manager,",
        "Photosynthesis converts", "The history of the Roman empire",
    ]

    /// Greedy decode of every prompt, `steps` tokens each, one session at a time: the logits
    /// of each step.
    private func alone(_ stage: TransformerStage, _ prompts: [[Int32]], steps: Int) throws
        -> [[[Float]]]
    {
        try prompts.map { prompt in
            let session = try stage.makeSession(contextLength: 64)
            var logits = try stage.forward(.tokens(prompt), session: session).values
            var rows: [[Float]] = []
            for _ in 0..<steps {
                let next = Int32(TestModel.argmax(logits[...]))
                logits = try stage.forward(.tokens([next]), session: session).values
                rows.append(logits)
            }
            return rows
        }
    }

    @Test(arguments: [2, 7, 16])
    func batchedDecodeEqualsDecodingAlone(batchSize: Int) throws {
        let file = try TestModel.file()
        let stage = try TransformerStage(file: file, layers: 0..<30, threads: 2)
        let tokenizer = try Tokenizer(gguf: file)
        let prompts = Self.prompts.prefix(batchSize).map { tokenizer.encode($0) }
        let steps = 4
        let reference = try alone(stage, Array(prompts), steps: steps)

        let sessions = try prompts.map { _ in try stage.makeSession(contextLength: 64) }
        var logits = try zip(prompts, sessions).map {
            try stage.forward(.tokens($0), session: $1).values
        }
        for step in 0..<steps {
            let batch = logits.indices.map {
                BatchStep(
                    session: sessions[$0],
                    input: .tokens([Int32(TestModel.argmax(logits[$0][...]))]))
            }
            logits = try stage.forward(batch: batch).map(\.values)
            for index in prompts.indices {
                #expect(logits[index] == reference[index][step], "prompt \(index) step \(step)")
            }
        }
    }

    /// Split stages: the first stage's hidden rows and the last stage's logits batched equal
    /// each session's own, so a pipeline of batching workers keeps greedy output exact.
    @Test func batchedDecodeThroughSplitStagesEqualsTheWholeModelAlone() throws {
        let file = try TestModel.file()
        let whole = try TransformerStage(file: file, layers: 0..<30, threads: 1)
        let first = try TransformerStage(file: file, layers: 0..<12, threads: 1)
        let last = try TransformerStage(file: file, layers: 12..<30, threads: 1)
        let tokenizer = try Tokenizer(gguf: file)
        let prompts = Self.prompts.prefix(5).map { tokenizer.encode($0) }
        let reference = try alone(whole, Array(prompts), steps: 3)

        let heads = try prompts.map { _ in try first.makeSession(contextLength: 64) }
        let tails = try prompts.map { _ in try last.makeSession(contextLength: 64) }
        var logits = try prompts.indices.map { index in
            let hidden = try first.forward(.tokens(prompts[index]), session: heads[index])
            return try last.forward(
                .hidden(hidden.values, count: prompts[index].count), session: tails[index]
            ).values
        }
        for step in 0..<3 {
            let hidden = try first.forward(
                batch: logits.indices.map {
                    BatchStep(
                        session: heads[$0],
                        input: .tokens([Int32(TestModel.argmax(logits[$0][...]))]))
                })
            logits = try last.forward(
                batch: hidden.indices.map {
                    BatchStep(session: tails[$0], input: .hidden(hidden[$0].values, count: 1))
                }
            ).map(\.values)
            for index in prompts.indices {
                #expect(logits[index] == reference[index][step], "prompt \(index) step \(step)")
            }
        }
    }

    /// A failover's replay of earlier output: the output tokens in one pass on the row-wise
    /// path give the logits (and every row's hidden state) that decoding them one by one gave.
    @Test func replayingOutputInOnePassEqualsDecodingItToken() throws {
        let file = try TestModel.file()
        let first = try TransformerStage(file: file, layers: 0..<12, threads: 2)
        let last = try TransformerStage(file: file, layers: 12..<30, threads: 2)
        let tokenizer = try Tokenizer(gguf: file)
        let prompt = tokenizer.encode(Self.prompts[0])
        let output: [Int32] = [7042, 28, 253, 3575, 282, 4649, 30, 378, 1462]

        let head = try first.makeSession(contextLength: 64)
        let tail = try last.makeSession(contextLength: 64)
        _ = try last.forward(
            .hidden(try first.forward(.tokens(prompt), session: head).values, count: prompt.count),
            session: tail)
        var stepHidden: [Float] = []
        var stepLogits: [Float] = []
        for token in output {
            let hidden = try first.forward(.tokens([token]), session: head).values
            stepHidden += hidden
            stepLogits = try last.forward(.hidden(hidden, count: 1), session: tail).values
        }

        head.truncate(to: prompt.count)
        tail.truncate(to: prompt.count)
        let replayHidden = try first.forward(
            .tokens(output), session: head, path: .independentRows
        ).values
        let replayLogits = try last.forward(
            .hidden(replayHidden, count: output.count), session: tail, path: .independentRows
        ).values
        #expect(replayHidden == stepHidden)
        #expect(replayLogits == stepLogits)
        // The tiled float path rounds differently (why nothing served uses it).
        head.truncate(to: prompt.count)
        let prefillHidden = try first.forward(.tokens(output), session: head, path: .fastest)
            .values
        #expect(prefillHidden != stepHidden)
    }

    @Test func malformedBatchesAreRefused() throws {
        let file = try TestModel.file()
        let stage = try TransformerStage(file: file, layers: 0..<30, threads: 1)
        let session = try stage.makeSession(contextLength: 8)
        #expect(throws: InferenceError.self) {
            try stage.forward(batch: [
                BatchStep(session: session, input: .tokens([1])),
                BatchStep(session: session, input: .tokens([2])),
            ])
        }
        let other = try stage.makeSession(contextLength: 8)
        #expect(throws: InferenceError.self) {  // one step past its context: none runs
            try stage.forward(batch: [
                BatchStep(session: other, input: .tokens([1, 2])),
                BatchStep(session: session, input: .tokens(Array(repeating: 1, count: 9))),
            ])
        }
        #expect(throws: InferenceError.self) {
            try stage.forward(batch: [BatchStep(session: session, input: .tokens([-1]))])
        }
        #expect(session.position == 0)  // nothing ran
        #expect(other.position == 0)
    }

    /// A prompt long enough to need several chunks (about 90 tokens).
    static let longPrompt =
        "The history of the Roman empire spans more than a thousand years, from the founding "
        + "of the city to the fall of Constantinople. Historians divide it into the kingdom, the "
        + "republic and the empire, and argue about when each began and ended, what caused the "
        + "crisis of the third century, and why the western provinces were lost while the east"

    /// Chunked prefill: the prompt in one call, or cut into chunks of 1, 7 or 64 tokens, gives
    /// the same logits, and through split stages the same hidden rows.
    @Test(arguments: [1, 7, 64])
    func promptChunkedAnyWayGivesTheSameBits(chunk: Int) throws {
        let file = try TestModel.file()
        let first = try TransformerStage(file: file, layers: 0..<12, threads: 2)
        let last = try TransformerStage(file: file, layers: 12..<30, threads: 2)
        let prompt = try Tokenizer(gguf: file).encode(Self.longPrompt)
        #expect(prompt.count > 64)

        let head = try first.makeSession(contextLength: 128)
        let tail = try last.makeSession(contextLength: 128)
        let wholeHidden = try first.forward(.tokens(prompt), session: head).values
        let wholeLogits = try last.forward(
            .hidden(wholeHidden, count: prompt.count), session: tail
        ).values

        let chunkedHead = try first.makeSession(contextLength: 128)
        let chunkedTail = try last.makeSession(contextLength: 128)
        var hidden: [Float] = []
        var logits: [Float] = []
        for start in stride(from: 0, to: prompt.count, by: chunk) {
            let tokens = Array(prompt[start..<min(start + chunk, prompt.count)])
            let rows = try first.forward(batch: [
                BatchStep(session: chunkedHead, input: .tokens(tokens))
            ])[0].values
            hidden += rows
            logits = try last.forward(batch: [
                BatchStep(session: chunkedTail, input: .hidden(rows, count: tokens.count))
            ])[0].values
        }
        #expect(hidden == wholeHidden)
        #expect(logits == wholeLogits)
    }

    /// Continuous batching with chunked prefill: a long prompt goes in chunks of 7 through
    /// passes that also carry the decode steps of `batchSize - 1` other sessions; every
    /// session's logits equal its own run alone.
    @Test(arguments: [2, 7, 16])
    func promptChunksSharingPassesWithDecodeStepsChangeNothing(batchSize: Int) throws {
        let file = try TestModel.file()
        let stage = try TransformerStage(file: file, layers: 0..<30, threads: 2)
        let tokenizer = try Tokenizer(gguf: file)
        let decoders = Self.prompts.prefix(batchSize - 1).map { tokenizer.encode($0) }
        let long = tokenizer.encode(Self.longPrompt)
        let chunk = 7
        let steps = (long.count + chunk - 1) / chunk
        let reference = try alone(stage, Array(decoders), steps: steps)
        let longSession = try stage.makeSession(contextLength: 128)
        let longReference = try stage.forward(.tokens(long), session: longSession).values

        let sessions = try decoders.map { _ in try stage.makeSession(contextLength: 64) }
        var logits = try zip(decoders, sessions).map {
            try stage.forward(.tokens($0), session: $1).values
        }
        let prefilling = try stage.makeSession(contextLength: 128)
        var longLogits: [Float] = []
        for step in 0..<steps {
            let tokens = Array(long[(step * chunk)..<min((step + 1) * chunk, long.count)])
            // The prompt chunk sits among the decode steps, not at an end.
            var batch = logits.indices.map {
                BatchStep(
                    session: sessions[$0],
                    input: .tokens([Int32(TestModel.argmax(logits[$0][...]))]))
            }
            let at = batch.count / 2
            batch.insert(BatchStep(session: prefilling, input: .tokens(tokens)), at: at)
            var outputs = try stage.forward(batch: batch).map(\.values)
            longLogits = outputs.remove(at: at)
            logits = outputs
            for index in decoders.indices {
                #expect(logits[index] == reference[index][step], "prompt \(index) step \(step)")
            }
        }
        #expect(longLogits == longReference)
    }
}
