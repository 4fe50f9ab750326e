import Foundation
import GRPCCore
import Inference
import Integrity
import Logging
import ModelStore
import ServiceKit
import Synchronization
import TesseraProto
import Testing

@testable import InferenceWorker

/// Proof of inference, the workers' part: every Forward response carries each stage's signed
/// commitments, chained by their digests, with the fields the verifier checks.
@Suite(.serialized) struct WorkerCommitmentTests {
    static let generated = 5

    @Test func twoStagesCommitToEveryStepAndChainTheirDigests() async throws {
        let verifier = try await RecordingVerifier.start()
        let pipeline = try await CommittingPipeline.start(
            [0..<15, 15..<30], ids: ["c0", "c1"], verifier: verifier.address)
        let keys = try await verifier.keys(of: ["c0", "c1"])
        let prompt = try WorkerFixtures.prompt("plain-story")
        for activation in [Tessera_V1_DType.unspecified, .f16] {
            let session = "session-\(activation)"
            let outcome = await ForwardDriver.generate(
                pipeline.pipeline,
                open: pipeline.pipeline.open(session: session, activation: activation),
                prompt: prompt, count: Self.generated)
            #expect(outcome.error == nil)
            #expect(outcome.responses.count == Self.generated)
            for (index, response) in outcome.responses.enumerated() {
                let tokens = Self.tokens(of: index, prompt: prompt, outcome: outcome)
                let commitments = response.commitments.map(\.domain)
                try #require(
                    commitments.count == 2, "step \(index): \(commitments.count) commitments")
                let (first, last) = (commitments[0], commitments[1])
                for (commitment, stage) in zip(commitments, pipeline.pipeline.stages) {
                    #expect(commitment.workerID == stage.worker.id)
                    #expect(commitment.sessionID == session)
                    #expect(commitment.step == response.step)
                    #expect(commitment.layers == stage.shard.layers)
                    #expect(commitment.shardSHA256 == stage.shard.sha256)
                    #expect(commitment.position == Self.position(of: index, prompt: prompt))
                    #expect(commitment.count == tokens.count)
                    #expect(!commitment.replay)
                    #expect(commitment.hasValidSignature(publicKey: keys[stage.worker.id] ?? []))
                }
                #expect(first.inputDigest == Digests.tokens(tokens))
                #expect(!first.isLastStage && first.sampledToken == 0)
                #expect(last.inputDigest == first.outputDigest, "\(activation) step \(index)")
                #expect(last.isLastStage && last.sampledToken == response.token)
                #expect(last.outputDigest == StepCommitment.tokenDigest(last.sampledToken))

                let hidden = try ActivationFingerprint(encoded: first.fingerprint)
                #expect(hidden.width == 576 && hidden.rows.count == tokens.count)
                if index == 0 && activation == .unspecified {
                    // The prefill's output is the engine's, bit for bit: so are digest and fingerprint.
                    let replayed = try Self.replayFirstStage(prompt: prompt)
                    #expect(first.outputDigest == Digests.floats(replayed))
                    let distance = try hidden.distance(toReplayed: replayed)
                    #expect(distance.relativeError == 0 && distance.normError == 0)
                }
                let logits = try ActivationFingerprint(encoded: last.fingerprint)
                #expect(logits.width == 49152 && logits.rows.count == 1)
            }
        }
        await pipeline.stop()
        await verifier.service.shutdown()
    }

    @Test func aOneStagePipelineCommitsToTokensInAndTokenOut() async throws {
        let pipeline = try await CommittingPipeline.start([0..<30], ids: ["solo"])
        let prompt = try WorkerFixtures.prompt("chat-fact")
        let outcome = await ForwardDriver.generate(
            pipeline.pipeline, open: pipeline.pipeline.open(), prompt: prompt,
            count: Self.generated)
        #expect(outcome.error == nil)
        for (index, response) in outcome.responses.enumerated() {
            let commitments = response.commitments.map(\.domain)
            try #require(commitments.count == 1)
            let commitment = commitments[0]
            #expect(commitment.isLastStage && commitment.layers == 0..<30)
            #expect(
                commitment.inputDigest
                    == Digests.tokens(Self.tokens(of: index, prompt: prompt, outcome: outcome)))
            #expect(commitment.sampledToken == response.token)
            #expect(commitment.hasValidSignature(publicKey: pipeline.publicKeys[0]))
            #expect(try ActivationFingerprint(encoded: commitment.fingerprint).rows.count == 1)
        }
        await pipeline.stop()
    }

    /// A prefill cut into pieces (here 5 rows per message, 37 tokens: 8 pieces) gets one
    /// commitment per piece per stage: the first stage's 8 first, then each piece's reply.
    @Test func aPrefillInPiecesCommitsOncePerPiecePerStage() async throws {
        let pipeline = try await CommittingPipeline.start(
            [0..<10, 10..<20, 20..<30], ids: ["p0", "p1", "p2"],
            maxActivationBytes: 5 * 576 * 4)
        let prompt = try WorkerFixtures.prompt("chat-fact")
        #expect(prompt.count == 37)
        let outcome = await ForwardDriver.generate(
            pipeline.pipeline, open: pipeline.pipeline.open(), prompt: prompt, count: 3)
        #expect(outcome.error == nil)
        let prefill = try #require(outcome.responses.first).commitments.map(\.domain)
        try #require(prefill.count == 8 + 8 * 2)
        let first = Array(prefill.prefix(8))
        let later = Array(prefill.dropFirst(8))
        let starts = Array(stride(from: 0, to: 37, by: 5))
        #expect(first.map(\.position) == starts)
        #expect(first.map(\.count) == [5, 5, 5, 5, 5, 5, 5, 2])
        #expect(first.allSatisfy { $0.workerID == "p0" && $0.step == 0 })
        for (piece, start) in starts.enumerated() {
            let (middle, last) = (later[2 * piece], later[2 * piece + 1])
            #expect(middle.workerID == "p1" && last.workerID == "p2")
            #expect(middle.position == start && last.position == start)
            #expect(first[piece].inputDigest == Digests.tokens(prompt[start..<min(37, start + 5)]))
            #expect(middle.inputDigest == first[piece].outputDigest)
            #expect(last.inputDigest == middle.outputDigest)
            #expect(
                try ActivationFingerprint(encoded: middle.fingerprint).rows.count
                    == first[piece].count)
        }
        // Decode steps fit in one message: one commitment per stage.
        for response in outcome.responses.dropFirst() {
            #expect(response.commitments.map(\.workerID) == ["p0", "p1", "p2"])
        }
        await pipeline.stop()
    }

    @Test func theKeyIsRegisteredWithTheVerifierAndARefusalIsFinal() async throws {
        let verifier = try await RecordingVerifier.start()
        let pipeline = try await CommittingPipeline.start(
            [0..<30], ids: ["k0"], verifier: verifier.address, deposit: 250)
        let keys = try await verifier.keys(of: ["k0"])
        #expect(keys["k0"] == pipeline.publicKeys[0])
        #expect(verifier.requests.first?.deposit == 250)
        await pipeline.stop()

        // PERMISSION_DENIED (the id is pinned to another key): an error, never asked again;
        // UNIMPLEMENTED: a notice once, asked again only after a minute.
        for (answer, message) in [
            (
                RPCError.Code.permissionDenied,
                "the verifier refused this worker's signing key; its commitments will not verify"
            ),
            (
                .unimplemented,
                "the verifier does not take worker keys yet; asking again every minute"
            ),
        ] {
            let refusing = try await RecordingVerifier.start(answer: answer)
            let log = LogRecorder()
            let worker = try await CommittingPipeline.start(
                [0..<30], ids: ["k1"], verifier: refusing.address, logger: log.logger)
            #expect(try await eventually { log.count(of: message) == 1 })
            try await Task.sleep(for: .milliseconds(500))
            #expect(refusing.requests.count == 1)
            await worker.stop()
            await refusing.service.shutdown()
        }
        await verifier.service.shutdown()
    }

    /// What proof of inference adds to one decode step, on the Integrity code the worker calls
    /// (always optimized): the last stage fingerprints 49,152 logits, every stage digests and
    /// signs. A release build measures ~53 µs at the last stage and ~17 µs elsewhere; here the
    /// signature runs on a debug build of BoringSSL and dominates. The bound catches a
    /// fingerprint gone back to its plain definition (~1.9 ms for the logits).
    @Test func commitmentsCostLittlePerBatchStep() {
        let identity = SigningIdentity()
        var generator = SystemRandomNumberGenerator()
        let logits = (0..<49152).map { _ in Float.random(in: -12...12, using: &generator) }
        let hidden = (0..<576).map { _ in Float.random(in: -3...3, using: &generator) }
        func measure(_ body: () -> StepCommitment) -> Double {
            _ = body()  // sign tables, first-use costs
            let clock = ContinuousClock()
            let rounds = 200
            let start = clock.now
            for _ in 0..<rounds { _ = body() }
            return (clock.now - start).inSeconds / Double(rounds)
        }
        func commitment(input: [UInt8], output: [UInt8], fingerprint: [UInt8], token: Int32)
            -> StepCommitment
        {
            var commitment = StepCommitment(
                workerID: "w-0123456789ab", sessionID: UUID().uuidString, step: 42,
                layers: 20..<30, shardSHA256: String(repeating: "ab", count: 32), position: 97,
                count: 1, inputDigest: input, outputDigest: output, fingerprint: fingerprint,
                isLastStage: token != 0, sampledToken: token, replay: false,
                arithmetic: EngineArithmetic.version,
                unixMilliseconds: Int64(Date().timeIntervalSince1970 * 1000))
            commitment.sign(with: identity)
            return commitment
        }
        let lastStage = measure {
            commitment(
                input: Digests.floats(hidden), output: StepCommitment.tokenDigest(7),
                fingerprint: ActivationFingerprint(values: logits, width: 49152).encoded, token: 7)
        }
        let hop = measure {
            commitment(
                input: Digests.floats(hidden), output: Digests.floats(hidden),
                fingerprint: ActivationFingerprint(values: hidden, width: 576).encoded, token: 0)
        }
        let fingerprintOnly = measure {
            _ = ActivationFingerprint(values: logits, width: 49152).encoded
            return commitment(input: [], output: [], fingerprint: [], token: 0)
        }
        print(
            "commitment cost per decode step: last stage \(Int(lastStage * 1e6)) us, "
                + "other stages \(Int(hop * 1e6)) us, logits fingerprint + signature \(Int(fingerprintOnly * 1e6)) us"
        )
        #expect(lastStage < 0.001 && hop < 0.001)
    }

    /// Layers [0, 15) run honestly on `prompt` by the engine: what the first stage should send.
    static func replayFirstStage(prompt: [Int32]) throws -> [Float] {
        let stage = try TransformerStage(
            file: try WorkerFixtures.modelFile(), layers: 0..<15, threads: 1)
        let session = try stage.makeSession(contextLength: prompt.count)
        return try stage.forward(.tokens(prompt), session: session).values
    }

    static func tokens(of index: Int, prompt: [Int32], outcome: ForwardOutcome) -> [Int32] {
        index == 0 ? prompt : [outcome.responses[index - 1].token]
    }

    static func position(of index: Int, prompt: [Int32]) -> Int {
        index == 0 ? 0 : prompt.count + index - 1
    }
}

/// Workers started like `ShardWorker.start`, plus what these tests need: a verifier to
/// register with, the deposit, and faults to inject (`buildInferenceWorker(_:logger:faults:)`).
struct CommittingPipeline {
    var pipeline: TestPipeline
    /// Each stage's public key, from its state directory (where the worker keeps it).
    var publicKeys: [[UInt8]]

    static func start(
        _ ranges: [Range<Int>], ids: [String], verifier: ListenAddress? = nil,
        deposit: UInt64 = 1000, maxActivationBytes: Int? = nil,
        faults: [String: WorkerFaults] = [:],
        logger: Logger = quietLogger
    ) async throws -> CommittingPipeline {
        var stages: [(worker: ShardWorker, shard: ShardInfo)] = []
        var keys: [[UInt8]] = []
        for (range, id) in zip(ranges, ids) {
            let shard = try WorkerFixtures.shard(range)
            let directory = FileManager.default.temporaryDirectory
                .appendingPathComponent("tessera-worker-\(id)-\(UUID().uuidString.prefix(8))").path
            try FileManager.default.createDirectory(
                atPath: directory, withIntermediateDirectories: true)
            try FileManager.default.linkItem(
                atPath: WorkerFixtures.path(of: shard), toPath: "\(directory)/\(shard.sha256).gguf")
            var configuration = WorkerConfiguration()
            configuration.grpcAddress = loopbackAnyPort
            configuration.httpAddress = loopbackAnyPort
            configuration.schedulerAddress = ListenAddress(host: "127.0.0.1", port: try freePort())
            configuration.verifierAddress = verifier
            configuration.deposit = deposit
            configuration.memoryBudgetBytes = 1 << 30
            configuration.threads = 1
            configuration.workerID = id
            configuration.shardDirectory = directory
            configuration.stateDirectory = "\(directory)/state"
            if let maxActivationBytes {
                configuration.maxActivationMessageBytes = maxActivationBytes
            }
            let service = try await buildInferenceWorker(
                configuration, logger: logger, faults: faults[id]
            ).start()
            let worker = ShardWorker(service: service, id: id, shardDirectory: directory)
            _ = try await worker.api {
                try await $0.loadShard(.with { $0.shard = try WorkerFixtures.reference(shard) })
            }
            stages.append((worker, shard))
            keys.append(
                try SigningIdentity.loadOrCreate(
                    directory: "\(directory)/state", fileName: "signing-key"
                )
                .identity.publicKey)
        }
        return CommittingPipeline(pipeline: TestPipeline(stages: stages), publicKeys: keys)
    }

    func stop() async {
        for stage in pipeline.stages { await stage.worker.service.shutdown() }
    }
}

/// A verifier that records `RegisterWorkerKey` and answers it with `answer` (OK when nil);
/// its other RPCs are UNIMPLEMENTED.
final class RecordingVerifier: Tessera_V1_Verifier.SimpleServiceProtocol, Sendable {
    let answer: RPCError.Code?
    private let recorded = Mutex<[Tessera_V1_RegisterWorkerKeyRequest]>([])
    private let running = Mutex<RunningService?>(nil)

    init(answer: RPCError.Code?) {
        self.answer = answer
    }

    static func start(answer: RPCError.Code? = nil) async throws -> RecordingVerifier {
        let verifier = RecordingVerifier(answer: answer)
        let service = try await ServiceApplication(
            name: "recording-verifier", grpcAddress: loopbackAnyPort, httpAddress: nil,
            logger: quietLogger, rpcServices: [verifier]
        ).start()
        verifier.running.withLock { $0 = service }
        return verifier
    }

    var service: RunningService { running.withLock { $0! } }
    var address: ListenAddress { service.addresses.grpc }
    var requests: [Tessera_V1_RegisterWorkerKeyRequest] { recorded.withLock { $0 } }

    /// The keys `ids` registered, once they all did.
    func keys(of ids: [String]) async throws -> [String: [UInt8]] {
        _ = try await eventually { Set(requests.map(\.workerID)).isSuperset(of: ids) }
        return Dictionary(
            requests.map { ($0.workerID, Array($0.publicKey)) }, uniquingKeysWith: { $1 })
    }

    func registerWorkerKey(request: Tessera_V1_RegisterWorkerKeyRequest, context: ServerContext)
        async throws -> Tessera_V1_RegisterWorkerKeyResponse
    {
        recorded.withLock { $0.append(request) }
        if let answer { throw RPCError(code: answer, message: "recording verifier says \(answer)") }
        return .with { $0.newlyRegistered = true }
    }

    private func unimplemented() -> RPCError {
        RPCError(code: .unimplemented, message: "not in the recording verifier")
    }

    func registerGatewayKey(request: Tessera_V1_RegisterGatewayKeyRequest, context: ServerContext)
        async throws -> Tessera_V1_RegisterGatewayKeyResponse
    { throw unimplemented() }

    func submitReceipts(request: Tessera_V1_SubmitReceiptsRequest, context: ServerContext)
        async throws -> Tessera_V1_SubmitReceiptsResponse
    { throw unimplemented() }

    func getReceipt(request: Tessera_V1_GetReceiptRequest, context: ServerContext) async throws
        -> Tessera_V1_ReceiptStatus
    { throw unimplemented() }

    func auditReceipt(request: Tessera_V1_AuditReceiptRequest, context: ServerContext)
        async throws -> Tessera_V1_ReceiptStatus
    { throw unimplemented() }

    func getInclusionProof(
        request: Tessera_V1_GetInclusionProofRequest, context: ServerContext
    ) async throws -> Tessera_V1_GetInclusionProofResponse { throw unimplemented() }

    func getReputation(request: Tessera_V1_GetReputationRequest, context: ServerContext)
        async throws -> Tessera_V1_GetReputationResponse
    { throw unimplemented() }

    func listReputations(request: Tessera_V1_ListReputationsRequest, context: ServerContext)
        async throws -> Tessera_V1_ListReputationsResponse
    { throw unimplemented() }

    func removeWorker(request: Tessera_V1_RemoveVerifiedWorkerRequest, context: ServerContext)
        async throws -> Tessera_V1_RemoveVerifiedWorkerResponse
    { throw unimplemented() }
}
