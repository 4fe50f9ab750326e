import Dispatch
import Inference
import Testing
import Tokenization

@testable import InferenceWorker

/// A stage's serving loop: decode tokens and prompt chunks of many sessions share passes
/// (continuous batching with chunked prefill) without changing any session's bits.
@Suite struct BatchLoopTests {
    static let longPrompt =
        "The history of the Roman empire spans more than a thousand years, from the founding "
        + "of the city to the fall of Constantinople. Historians divide it into the kingdom, the "
        + "republic and the empire, and argue about when each began and ended."

    /// The stage with its queue held: steps submitted meanwhile all wait for the first pass.
    struct HeldStage {
        let stage: TransformerStage
        let queue = DispatchQueue(label: "test.stage")
        let gate = DispatchSemaphore(value: 0)

        init() throws {
            stage = try TransformerStage(
                file: try WorkerFixtures.modelFile(), layers: 0..<30, threads: 1)
            queue.async { [gate] in gate.wait() }
        }

        func release() { gate.signal() }
    }

    /// Waits until the loop holds `count` steps (they are submitted from child tasks).
    private func waitForQueued(_ loop: BatchLoop, _ count: Int) async throws {
        #expect(try await eventually(timeout: .seconds(30)) { loop.waitingCount == count })
    }

    @Test func aLongPromptGoesInChunksBetweenTheDecodeStepsOfOtherSessions() async throws {
        let held = try HeldStage()
        let stage = held.stage
        let tokenizer = try Tokenizer(gguf: try WorkerFixtures.modelFile())
        let long = tokenizer.encode(Self.longPrompt)
        let short = tokenizer.encode("The capital of France is")

        // References: each alone, in one call.
        let longAlone = try stage.forward(
            .tokens(long), session: try stage.makeSession(contextLength: 128)
        ).values
        let decoderAlone = try stage.makeSession(contextLength: 64)
        _ = try stage.forward(.tokens(short), session: decoderAlone)
        let decodeAlone = try stage.forward(.tokens([42]), session: decoderAlone).values

        let loop = BatchLoop(
            stage: stage, queue: held.queue, limits: BatchLimits(sessions: 8, tokens: 16))
        let decoder = try stage.makeSession(contextLength: 64)
        _ = try stage.forward(.tokens(short), session: decoder)
        let prefilling = try stage.makeSession(contextLength: 128)

        async let longOutcome = loop.run(session: prefilling, input: .tokens(long))
        try await waitForQueued(loop, 1)
        async let decodeOutcome = loop.run(session: decoder, input: .tokens([42]))
        try await waitForQueued(loop, 2)
        held.release()
        let (prompt, decode) = try await (longOutcome, decodeOutcome)

        // The decode step went in the first pass, beside the prompt's first chunk, not after
        // the whole prompt; the prompt went 16 rows a pass (the budget, and never less than
        // the minimum chunk beside decode tokens).
        #expect(decode.passes == 1)
        #expect(decode.batchSize == 2)
        let chunks = (long.count + 15) / 16
        #expect(prompt.passes == chunks)
        #expect(prompt.shareSeconds < prompt.computeSeconds)
        // And nobody's bits moved.
        #expect(decode.output.values == decodeAlone)
        #expect(prompt.output.values == longAlone)
    }

    @Test func aDecodeTokenThatFindsTheLoopIdleRunsAtOnceWithoutTheQueue() async throws {
        // The queue is held: only a pass that does not need it can finish.
        let held = try HeldStage()
        defer { held.release() }
        let stage = held.stage
        let loop = BatchLoop(stage: stage, queue: held.queue)
        let reference = try stage.makeSession(contextLength: 64)
        _ = try stage.forward(.tokens([1, 2, 3]), session: reference)
        let expected = try stage.forward(.tokens([42]), session: reference).values
        let session = try stage.makeSession(contextLength: 64)
        _ = try stage.forward(.tokens([1, 2, 3]), session: session)

        let alone = try await loop.run(session: session, input: .tokens([42]))
        #expect(alone.passes == 1 && alone.batchSize == 1 && alone.queueSeconds == 0)
        #expect(alone.output.values == expected)

        // Behind a prompt waiting for the queue, a decode token waits too and shares its pass.
        async let prompt = loop.run(
            session: try stage.makeSession(contextLength: 64), input: .tokens([5, 6, 7]))
        try await waitForQueued(loop, 1)
        async let decode = loop.run(session: session, input: .tokens([43]))
        try await waitForQueued(loop, 2)
        held.release()
        let (promptOutcome, decodeOutcome) = try await (prompt, decode)
        #expect(decodeOutcome.batchSize == 2 && promptOutcome.batchSize == 2)
        #expect(
            decodeOutcome.output.values
                == (try stage.forward(.tokens([43]), session: reference).values))
    }

    @Test func aCancelledPromptLeavesTheQueueAndTheOthersCarryOn() async throws {
        let held = try HeldStage()
        let stage = held.stage
        let tokenizer = try Tokenizer(gguf: try WorkerFixtures.modelFile())
        let long = tokenizer.encode(Self.longPrompt)
        let loop = BatchLoop(
            stage: stage, queue: held.queue, limits: BatchLimits(sessions: 8, tokens: 16))

        let cancelled = Task {
            try await loop.run(
                session: try stage.makeSession(contextLength: 128), input: .tokens(long))
        }
        try await waitForQueued(loop, 1)
        let other = try stage.makeSession(contextLength: 64)
        async let survivor = loop.run(session: other, input: .tokens([1, 2, 3]))
        try await waitForQueued(loop, 2)
        cancelled.cancel()
        try await waitForQueued(loop, 1)
        held.release()
        await #expect(throws: CancellationError.self) { try await cancelled.value }
        let outcome = try await survivor
        #expect(outcome.passes == 1 && outcome.batchSize == 1)
        let alone = try stage.forward(
            .tokens([1, 2, 3]), session: try stage.makeSession(contextLength: 64)
        ).values
        #expect(outcome.output.values == alone)
    }

    @Test func aStepTheEngineRefusesFailsAloneAndTheRestRun() async throws {
        let held = try HeldStage()
        let stage = held.stage
        let loop = BatchLoop(stage: stage, queue: held.queue)
        let full = try stage.makeSession(contextLength: 2)
        let refused = Task { try await loop.run(session: full, input: .tokens([1, 2, 3])) }
        try await waitForQueued(loop, 1)
        async let fine = loop.run(
            session: try stage.makeSession(contextLength: 8), input: .tokens([5]))
        try await waitForQueued(loop, 2)
        held.release()
        await #expect(throws: InferenceError.self) { try await refused.value }
        let outcome = try await fine
        let alone = try stage.forward(
            .tokens([5]), session: try stage.makeSession(contextLength: 8)
        ).values
        #expect(outcome.output.values == alone)
    }
}
