import Foundation
import GRPCCore
import Integrity
import ServiceKit
import Synchronization
import TesseraProto
import Testing

/// Direct answers (docs/generation-protocol.md, "Direct answers"): decode steps marked
/// `answer_directly` go down the chain and the last stage answers on the `Answers` stream the
/// caller opened to it, with every stage's timing and signed commitment, and no stage answers
/// up the chain. The tokens are the single-process engine's, as relayed.
@Suite(.serialized) struct WorkerDirectAnswerTests {
    @Test func directAnswersMatchTheSingleProcessEngine() async throws {
        let pipeline = try await WorkerForwardTests.threeWorkerPipeline()
        for name in WorkerForwardTests.prompts {
            let prompt = try WorkerFixtures.prompt(name)
            let reference = try WorkerFixtures.referenceTokens(
                prompt: prompt, count: WorkerForwardTests.generated)
            let session = "direct-\(name)"
            let outcome = try await DirectDriver.generate(
                pipeline, open: pipeline.open(session: session), prompt: prompt,
                count: WorkerForwardTests.generated)
            #expect(outcome.tokens == reference.tokens, "\(name)")
            // The prompt came back up the chain; no decode step did.
            #expect(outcome.relayed.map(\.step) == [0])
            #expect(outcome.direct.map(\.step) == Array(1..<UInt64(reference.tokens.count)))
            for answer in outcome.direct {
                #expect(answer.timings.map(\.workerID) == ["w0", "w1", "w2"])
                #expect(answer.timings.allSatisfy { $0.computeSeconds > 0 })
                // The f32 row and the timings so far: the signed commitments (~360 bytes
                // each) follow in a message of their own (the prompt's reply said so).
                let (first, second) = (answer.timings[0].bytesSent, answer.timings[1].bytesSent)
                #expect(first >= 576 * 4 && first < 576 * 4 + 200)
                #expect(second > first && second < first + 150)
                let commitments = answer.commitments.map(\.domain)
                #expect(commitments.map(\.workerID) == ["w0", "w1", "w2"])
                #expect(
                    commitments.allSatisfy { $0.sessionID == session && $0.step == answer.step })
                // Chained as relayed: each stage's input is what the one before sent.
                #expect(commitments[1].inputDigest == commitments[0].outputDigest)
                #expect(commitments[2].inputDigest == commitments[1].outputDigest)
                #expect(commitments[2].isLastStage && commitments[2].sampledToken == answer.token)
            }
            #expect(outcome.answersError == nil)
        }
        // The sessions ended with their streams.
        for stage in pipeline.stages {
            #expect(
                try await eventually { try await stage.worker.status().load.activeSessions == 0 })
        }
        await WorkerForwardTests.stop(pipeline)
    }

    /// Until a relayed reply says the next stage takes commitments after the step (a next
    /// stage that predates that never does), they travel inside it: every step here goes
    /// directly, the prompt too, so no reply ever says so.
    @Test func commitmentsGoInsideTheStepUntilTheNextStageSaysItTakesThemAfter() async throws {
        let pipeline = try await WorkerForwardTests.threeWorkerPipeline()
        let prompt = try WorkerFixtures.prompt("plain-story")
        let reference = try WorkerFixtures.referenceTokens(prompt: prompt, count: 6)
        let session = "inline"
        let outcome = try await DirectDriver.generate(
            pipeline, open: pipeline.open(session: session), prompt: prompt, count: 6,
            relayPrompt: false)
        #expect(outcome.tokens == reference.tokens)
        #expect(outcome.relayed.isEmpty)
        #expect(outcome.direct.map(\.step) == Array(0..<UInt64(reference.tokens.count)))
        for answer in outcome.direct where answer.step > 0 {
            let (first, second) = (answer.timings[0].bytesSent, answer.timings[1].bytesSent)
            #expect(first >= 576 * 4 + 300 && first < 576 * 4 + 512)
            #expect(second >= first + 300 && second < first + 512)
            let commitments = answer.commitments.map(\.domain)
            #expect(commitments.map(\.workerID) == ["w0", "w1", "w2"])
            #expect(commitments[1].inputDigest == commitments[0].outputDigest)
            #expect(commitments[2].inputDigest == commitments[1].outputDigest)
            #expect(commitments[2].isLastStage && commitments[2].sampledToken == answer.token)
        }
        #expect(outcome.chainError == nil && outcome.answersError == nil)
        await WorkerForwardTests.stop(pipeline)
    }

    @Test func misplacedFollowingCommitmentsAreInvalidArgument() async throws {
        let pipeline = try await WorkerForwardTests.threeWorkerPipeline()
        let prompt = try WorkerFixtures.prompt("plain-story")
        // Commitments that no step awaits.
        let stray = await Self.forwardError(
            pipeline,
            messages: [
                .with {
                    $0.commitments = .with { $0.step = 0 }
                }
            ])
        #expect(stray?.code == .invalidArgument)
        #expect(stray?.message.contains("no step of this session awaits them") == true)
        // A step saying its commitments follow, to a stage that never said it takes them.
        var unasked = ForwardDriver.step(0, position: 0, tokens: prompt)
        unasked.answerDirectly = true
        unasked.commitmentsFollow = true
        let early = await Self.forwardError(pipeline, messages: [.with { $0.step = unasked }])
        #expect(early?.code == .invalidArgument)
        #expect(early?.message.contains("did not say it takes them") == true)
        // ... and to one that relays it.
        var relayed = unasked
        relayed.answerDirectly = false
        let notDirect = await Self.forwardError(pipeline, messages: [.with { $0.step = relayed }])
        #expect(notDirect?.code == .invalidArgument)
        #expect(notDirect?.message.contains("for direct steps") == true)
        await WorkerForwardTests.stop(pipeline)
    }

    /// How a `Forward` stream to the pipeline's first stage ends after `open` and `messages`.
    static func forwardError(_ pipeline: TestPipeline, messages: [Tessera_V1_ForwardRequest])
        async -> RPCError?
    {
        let open = pipeline.open()
        return await DirectDriver.capture {
            try await ServiceClient.with(pipeline.entry) { client in
                try await Tessera_V1_InferenceWorker.Client(wrapping: client).forward(
                    options: .timeout(.seconds(60)),
                    requestProducer: { writer in
                        try await writer.write(.with { $0.open = open })
                        try await writer.write(contentsOf: messages)
                    },
                    onResponse: { response in
                        for try await _ in response.messages {}
                    })
            }
        }
    }

    @Test func aStoppedMiddleStageFailsTheChainNamingIt() async throws {
        let pipeline = try await WorkerForwardTests.threeWorkerPipeline()
        let middle = pipeline.stages[1].worker
        let prompt = try WorkerFixtures.prompt("plain-story")
        let stopped = Mutex<Task<Void, Never>?>(nil)
        let outcome = try await DirectDriver.generate(
            pipeline, open: pipeline.open(), prompt: prompt, count: 24,
            afterAnswer: { count in
                guard count == 4 else { return }
                // Stop the middle worker between two steps, then keep generating.
                stopped.withLock { $0 = Task { await middle.service.shutdown() } }
                try? await Task.sleep(for: .milliseconds(300))
            })
        // The first stage hears of it between steps (no reply is due on a direct step) and
        // fails the chain naming the middle stage; the last stage's answers end OK.
        #expect(outcome.tokens.count >= 4 && outcome.tokens.count < 24)
        #expect(outcome.chainError?.code == .unavailable)
        #expect(
            outcome.chainError?.metadata[stringValues: MetadataKeys.failedWorker].first {
                _ in true
            } == "w1")
        #expect(outcome.answersError == nil)
        await stopped.withLock { $0 }?.value
        await pipeline.stages[0].worker.service.shutdown()
        await pipeline.stages[2].worker.service.shutdown()
    }

    @Test func badAnswersCallsAndStepsGetClearStatuses() async throws {
        // 576 f32 values are 2,304 bytes: a two-row step does not fit one message of 4,000.
        let pipeline = try await WorkerForwardTests.threeWorkerPipeline(maxActivationBytes: 4000)
        let last = pipeline.stages[2].worker
        let empty = await Self.answersError(last, session: "")
        #expect(empty?.code == .invalidArgument)

        // A second collector of the same session is refused while the first is there.
        let prompt = try WorkerFixtures.prompt("plain-story")
        let session = "twice"
        let outcome = try await DirectDriver.generate(
            pipeline, open: pipeline.open(session: session), prompt: prompt, count: 3,
            afterAnswer: { count in
                if count == 2 {
                    let second = await Self.answersError(last, session: session)
                    #expect(second?.code == .alreadyExists)
                }
            })
        #expect(outcome.tokens.count == 3)

        // A direct step of two rows does not fit one message per hop: INVALID_ARGUMENT.
        let tooLong = try await DirectDriver.generate(
            pipeline, open: pipeline.open(), prompt: prompt, count: 3,
            decodeTokens: { last in [last, last] })
        #expect(tooLong.chainError?.code == .invalidArgument)
        #expect(tooLong.chainError?.message.contains("do not fit one message") == true)
        await WorkerForwardTests.stop(pipeline)
    }

    /// How an `Answers` call to `worker` for `session` ends, given a second to do so.
    static func answersError(_ worker: ShardWorker, session: String) async -> RPCError? {
        do {
            try await worker.api { client in
                try await client.answers(
                    request: ClientRequest(message: .with { $0.sessionID = session }),
                    options: .timeout(.seconds(1))
                ) { response in
                    for try await _ in response.messages {}
                }
            }
            return nil
        } catch let error as RPCError {
            return error
        } catch {
            return RPCError(code: .unknown, message: "\(error)")
        }
    }
}

/// Drives a pipeline as the gateway does with direct answers: the prompt relayed, then each
/// decode step marked `answer_directly` and its answer read from the last stage's `Answers`
/// stream.
enum DirectDriver {
    struct Outcome {
        var relayed: [Tessera_V1_ForwardResponse] = []
        var direct: [Tessera_V1_ForwardResponse] = []
        var chainError: RPCError?
        var answersError: RPCError?

        var tokens: [Int32] { (relayed + direct).sorted { $0.step < $1.step }.map(\.token) }
    }

    private enum Event: Sendable {
        case relayed(Tessera_V1_ForwardResponse)
        case direct(Tessera_V1_ForwardResponse)
        case chainEnded(RPCError?)
        case answersEnded(RPCError?)
    }

    static func generate(
        _ pipeline: TestPipeline, open: Tessera_V1_SessionOpen, prompt: [Int32], count: Int,
        decodeTokens: @escaping @Sendable (Int32) -> [Int32] = { [$0] },
        relayPrompt: Bool = true,
        afterAnswer: @escaping @Sendable (Int) async -> Void = { _ in }
    ) async throws -> Outcome {
        let (steps, stepSink) = AsyncStream<Tessera_V1_ForwardStep>.makeStream()
        let (events, eventSink) = AsyncStream<Event>.makeStream()
        let last = pipeline.stages[pipeline.stages.count - 1].worker
        var first = ForwardDriver.step(0, position: 0, tokens: prompt)
        first.answerDirectly = !relayPrompt
        stepSink.yield(first)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                let error = await capture {
                    try await last.api { client in
                        try await client.answers(
                            request: ClientRequest(
                                message: .with { $0.sessionID = open.sessionID }),
                            options: .timeout(.seconds(120))
                        ) { response in
                            for try await answer in response.messages {
                                eventSink.yield(.direct(answer))
                            }
                        }
                    }
                }
                eventSink.yield(.answersEnded(error))
            }
            group.addTask {
                let error = await capture {
                    try await ServiceClient.with(pipeline.entry) { client in
                        try await Tessera_V1_InferenceWorker.Client(wrapping: client).forward(
                            options: .timeout(.seconds(120)),
                            requestProducer: { writer in
                                try await writer.write(.with { $0.open = open })
                                for await step in steps {
                                    try await writer.write(.with { $0.step = step })
                                }
                            },
                            onResponse: { response in
                                for try await reply in response.messages {
                                    eventSink.yield(.relayed(reply))
                                }
                            })
                    }
                }
                eventSink.yield(.chainEnded(error))
            }
            var outcome = Outcome()
            var ended = (chain: false, answers: false)
            for await event in events {
                var reply: Tessera_V1_ForwardResponse?
                switch event {
                case .relayed(let response):
                    outcome.relayed.append(response)
                    reply = response
                case .direct(let answer):
                    outcome.direct.append(answer)
                    reply = answer
                case .chainEnded(let error):
                    outcome.chainError = error
                    ended.chain = true
                    stepSink.finish()
                case .answersEnded(let error):
                    outcome.answersError = error
                    ended.answers = true
                }
                if ended.chain && ended.answers { break }
                guard let reply else { continue }
                let answered = outcome.relayed.count + outcome.direct.count
                await afterAnswer(answered)
                guard answered < count else {
                    stepSink.finish()
                    continue
                }
                var step = ForwardDriver.step(
                    UInt64(answered), position: prompt.count + answered - 1,
                    tokens: decodeTokens(reply.token))
                step.answerDirectly = true
                stepSink.yield(step)
            }
            eventSink.finish()
            try await group.waitForAll()
            return outcome
        }
    }

    /// The RPC error `body` ends with, nil when it ends OK.
    static func capture(_ body: () async throws -> Void) async -> RPCError? {
        do {
            try await body()
            return nil
        } catch let error as RPCError {
            return error
        } catch {
            return RPCError(code: .unknown, message: "\(error)")
        }
    }
}
