import Foundation
import GGUF
import Inference
import Integrity
import ModelStore
import Testing
import Tokenization
import Verifier

/// Receipt records made in-process the way a pipeline of workers and the gateway make them,
/// for the replay tests: cut shards of the default model, one engine stage per worker.
enum ReplayFixtures {
    struct Unknown: Error {
        let sha256: String
    }

    /// Stages over the fixture shards for `cuts`, named by `workers`.
    static func pipeline(
        _ cuts: [Range<Int>], workers: [String], sampling: SamplingParameters = .greedy,
        rowsPerMessage: Int = 8
    ) throws -> SimulatedPipeline {
        let stages = try zip(cuts, workers).map { layers, worker in
            let shard = try WorkerFixtures.shard(layers)
            let file = try GGUFFile(path: WorkerFixtures.path(of: shard))
            return SimulatedPipeline.Stage(
                workerID: worker, shard: shard,
                stage: try TransformerStage(file: file, layers: layers, threads: 1),
                vocabulary: layers.upperBound == 30
                    ? TokenVocabulary(tokenizer: try Tokenizer(gguf: file)) : nil)
        }
        return SimulatedPipeline(stages: stages, sampling: sampling, rowsPerMessage: rowsPerMessage)
    }

    /// What the gateway records for one request (GenerationSession): on each pipeline the
    /// prompt as one step, then one step per generated token; the pipeline `pipelines[i]`
    /// fails once `failAfter[i]` tokens are out, and the next one replays the prompt as one
    /// step and the output as one `replay` step before going on. Chains in reply order.
    static func record(
        prompt: [Int32], count: Int, pipelines: [SimulatedPipeline], failAfter: [Int] = []
    ) throws -> ReceiptRecord {
        var generated: [Int32] = []
        var chains: [CommitmentChain] = []
        for (attempt, pipeline) in pipelines.enumerated() {
            let session = try SimulatedSession(
                pipeline, id: "session-\(attempt)", contextLength: prompt.count + count,
                outputStart: prompt.count)
            func step(_ position: Int, _ tokens: [Int32], replay: Bool = false) throws -> Int32 {
                let reply = try session.step(position: position, tokens: tokens, replay: replay)
                chains.append(CommitmentChain(attempt: attempt, commitments: reply.commitments))
                return reply.token
            }
            var token = try step(0, prompt)
            if !generated.isEmpty {
                token = try step(prompt.count, generated, replay: true)
            }
            let stop = attempt < failAfter.count ? failAfter[attempt] : count
            while true {
                generated.append(token)
                guard generated.count < min(count, stop) else { break }
                token = try step(prompt.count + generated.count - 1, [token])
            }
            if generated.count >= count { break }
        }
        return try signed(
            ReceiptRecord(
                receipt: ReceiptBody(
                    receiptID: UUID().uuidString, merkleRoot: [], modelName: "smollm2-135m",
                    modelSHA256: try WorkerFixtures.modelSHA(), stages: [], leafCount: 0,
                    unixMilliseconds: 0, gatewayID: "gateway", gatewayPublicKey: []),
                promptTokens: prompt, outputTokens: generated, chains: chains))
    }

    /// The receipt the gateway signs over the record's commitments.
    static func signed(_ record: ReceiptRecord) throws -> ReceiptRecord {
        var record = record
        var stages: [ReceiptStage] = []
        for commitment in record.leaves {
            let stage = ReceiptStage(
                workerID: commitment.workerID, shardSHA256: commitment.shardSHA256,
                layers: commitment.layers)
            if !stages.contains(stage) { stages.append(stage) }
        }
        record.receipt.stages = stages
        record.receipt.merkleRoot = record.merkleTree.root
        record.receipt.leafCount = record.leaves.count
        record.receipt.sign(with: SigningIdentity())
        return record
    }

    /// A replayer over the fixture shards.
    static func replayer(threads: Int = 1) -> ReceiptReplayer {
        ReceiptReplayer(source: FixtureShardSource(), threads: threads)
    }
}

/// The fixture shards, by hash (all cuts a replay test uses are cut by then).
struct FixtureShardSource: ShardSource {
    static let cuts: [Range<Int>] = [0..<15, 15..<30, 0..<10, 10..<30]

    func path(forShard sha256: String) async throws -> String {
        for layers in Self.cuts {
            let shard = try WorkerFixtures.shard(layers)
            if shard.sha256 == sha256 { return WorkerFixtures.path(of: shard) }
        }
        throw ReplayFixtures.Unknown(sha256: sha256)
    }
}

/// Engine stages that run and commit the way workers do (ForwardSession+Step and
/// +Commitments): the first stage runs a step at once and sends its rows on in pieces of at
/// most `rowsPerMessage`, committing to each piece it sends; a later stage runs each piece
/// it receives (one token: the decode path, else the tiled path or, for a failover's
/// replayed output, the row-wise one); the last stage samples after each piece and commits
/// to it. A stage may be made dishonest: noise on its output (sent on and committed), or a
/// wrong token at chosen replies.
struct SimulatedPipeline {
    struct Stage {
        var workerID: String
        var shard: ShardInfo
        var stage: TransformerStage
        var vocabulary: TokenVocabulary?
        var identity = SigningIdentity()
        /// Relative noise (× each row's RMS) added to this stage's output.
        var noise = 0.0
    }

    var stages: [Stage]
    var sampling: SamplingParameters
    var rowsPerMessage: Int
    /// Replies (counted from 0 on this pipeline) whose token the last stage replaces by the
    /// least likely one.
    var wrongTokens: Set<Int> = []
}

/// One session on a simulated pipeline: a KV session per stage, the last stage's history
/// and response-format constraint.
final class SimulatedSession {
    struct Message {
        var position: Int
        var count: Int
        var input: StageInput
        var replay: Bool
    }

    let pipeline: SimulatedPipeline
    let id: String
    let sessions: [StageSession]
    let sampler: Sampler
    let outputStart: Int
    var constraint: TokenConstraint?
    var history: [Int32] = []
    var replies = 0

    init(_ pipeline: SimulatedPipeline, id: String, contextLength: Int, outputStart: Int) throws {
        self.pipeline = pipeline
        self.id = id
        self.outputStart = outputStart
        sessions = try pipeline.stages.map {
            try $0.stage.makeSession(contextLength: contextLength, precision: .f16)
        }
        sampler = try Sampler(parameters: pipeline.sampling)
        if let grammar = try pipeline.sampling.responseFormat.grammar(),
            let vocabulary = pipeline.stages.last?.vocabulary
        {
            constraint = TokenConstraint(grammar: grammar, vocabulary: vocabulary)
        }
    }

    /// One step as the gateway sends it: the reply's token and commitments (its chain).
    func step(position: Int, tokens: [Int32], replay: Bool = false) throws -> (
        token: Int32, commitments: [StepCommitment]
    ) {
        defer { replies += 1 }
        var commitments: [StepCommitment] = []
        var token: Int32 = 0
        var messages = [
            Message(position: position, count: tokens.count, input: .tokens(tokens), replay: replay)
        ]
        for (index, stage) in pipeline.stages.enumerated() {
            var sent: [Message] = []
            for message in messages {
                let stepTokens = Array(
                    tokens[
                        (message.position - position)..<(message.position - position + message.count)
                    ])
                var output = try forward(index, message).values
                if stage.noise > 0 {
                    let width =
                        stage.stage.isLast
                        ? output.count : stage.stage.hyperparameters.embeddingLength
                    output = HonestNoise.perturbed(
                        output, width: width, relative: stage.noise, seed: UInt64(replies))
                }
                guard !stage.stage.isLast else {
                    history.removeSubrange(min(message.position, history.count)...)
                    history += stepTokens
                    token = try sample(output, position: message.position + message.count)
                    if pipeline.wrongTokens.contains(replies)
                        && message.position + message.count
                            == position + tokens.count
                    {
                        token = Int32(output.indices.min { output[$0] < output[$1] }!)
                    }
                    commitments.append(
                        commit(
                            stage, message, tokens: stepTokens, output: output,
                            width: output.count, outputDigest: StepCommitment.tokenDigest(token),
                            token: token))
                    continue
                }
                let width = stage.stage.hyperparameters.embeddingLength
                for start in stride(from: 0, to: message.count, by: pipeline.rowsPerMessage) {
                    let end = min(message.count, start + pipeline.rowsPerMessage)
                    let rows = Array(output[(start * width)..<(end * width)])
                    let piece = Message(
                        position: message.position + start, count: end - start,
                        input: .hidden(rows, count: end - start), replay: message.replay)
                    var pieceInput = message
                    pieceInput.position = piece.position
                    pieceInput.count = piece.count
                    commitments.append(
                        commit(
                            stage, pieceInput, tokens: Array(stepTokens[start..<end]), output: rows,
                            width: width, outputDigest: Digests.floats(rows), token: nil,
                            inputRows: index == 0 ? nil : start..<end))
                    sent.append(piece)
                }
            }
            messages = sent
        }
        return (token, commitments)
    }

    private func forward(_ index: Int, _ message: Message) throws -> StageOutput {
        let stage = pipeline.stages[index].stage
        let session = sessions[index]
        if message.position < session.position { session.truncate(to: message.position) }
        // As the worker's batch loop: one pass of this step alone (other sessions sharing the
        // pass, or the prompt cut in chunks, would give the same bits).
        return try stage.forward(batch: [BatchStep(session: session, input: message.input)])[0]
    }

    /// The worker's `sample`, its constraint caught up with the output first.
    private func sample(_ logits: [Float], position: Int) throws -> Int32 {
        if var constraint, history.count > outputStart {
            if history.count - outputStart < constraint.acceptedCount { constraint.reset() }
            for token in history[(outputStart + constraint.acceptedCount)...] {
                try constraint.accept(token)
            }
            self.constraint = constraint
        }
        return try sampler.sample(
            logits: logits, recentTokens: history, position: position, constraint: constraint)
    }

    private func commit(
        _ stage: SimulatedPipeline.Stage, _ message: Message, tokens: [Int32], output: [Float],
        width: Int, outputDigest: [UInt8], token: Int32?, inputRows: Range<Int>? = nil
    ) -> StepCommitment {
        var inputDigest = Digests.tokens(tokens)
        if case .hidden(let values, _) = message.input {
            let rows = inputRows ?? 0..<message.count
            let width = stage.stage.hyperparameters.embeddingLength
            inputDigest = Digests.floats(
                values[(rows.lowerBound * width)..<(rows.upperBound * width)])
        }
        var commitment = StepCommitment(
            workerID: stage.workerID, sessionID: id, step: UInt64(replies),
            layers: stage.stage.layers, shardSHA256: stage.shard.sha256,
            position: message.position, count: message.count, inputDigest: inputDigest,
            outputDigest: outputDigest,
            fingerprint: ActivationFingerprint(values: output, width: width).encoded,
            isLastStage: token != nil, sampledToken: token ?? 0, replay: message.replay,
            arithmetic: EngineArithmetic.version,
            unixMilliseconds: 0)
        commitment.sign(with: stage.identity)
        return commitment
    }
}

/// The simulated pipeline is the engine, in the workers' pieces.
@Suite struct ReplayFixtureTests {
    @Test func simulatedPipelineGeneratesWhatTheEngineDoes() async throws {
        let prompt = try WorkerFixtures.prompt("plain-story")
        // Uncut, two stages give the single-process engine's bits, so its greedy tokens.
        let whole = try ReplayFixtures.record(
            prompt: prompt, count: 6,
            pipelines: [
                try ReplayFixtures.pipeline(
                    [0..<15, 15..<30], workers: ["a", "b"], rowsPerMessage: 64)
            ])
        let reference = try WorkerFixtures.referenceTokens(prompt: prompt, count: 6)
        #expect(whole.outputTokens == reference.tokens)

        // The prompt's 19 rows go on in pieces of 8, 8 and 3: three commitments per stage.
        let cut = try ReplayFixtures.record(
            prompt: prompt, count: 6,
            pipelines: [try ReplayFixtures.pipeline([0..<15, 15..<30], workers: ["a", "b"])])
        let prefill = try #require(cut.chains.first)
        #expect(prefill.commitments.map(\.count) == [8, 8, 3, 8, 8, 3])
        #expect(cut.chains.count == 6)
        #expect(cut.receipt.hasValidSignature)
    }
}
