import Foundation
import GRPCCore
import GRPCInProcessTransport
import Inference
import Integrity
import ServiceKit
import Synchronization
import TesseraProto
import Testing

@testable import Verifier

/// Consistent signed receipt records for the verifier's tests: a two-stage pipeline (worker
/// A on layers 0..<15, worker B, the last stage, on 15..<30) that served `prompt` and
/// generated `output`: a prefill (step 0, optionally cut into pieces) then one decode step
/// per further token, each step one chain (one reply). Digests are those honest stages
/// would sign: A's input is the tokens at its positions, B's input is A's output, B's
/// output is the token it sampled (the record's next token).
struct VerifierFixture {
    struct Worker {
        var id: String
        var identity = SigningIdentity()
        var layers: Range<Int>
        var shard: String
    }

    var gatewayID = "gw-test"
    var gateway = SigningIdentity()
    var workerA = Worker(id: "w-a", layers: 0..<15, shard: String(repeating: "a", count: 64))
    var workerB = Worker(id: "w-b", layers: 15..<30, shard: String(repeating: "b", count: 64))
    var prompt: [Int32] = [11, 12, 13, 14]
    var output: [Int32] = [21, 22, 23]
    var sessionID = "sess-1"
    /// Pieces the prefill's activations are cut into.
    var prefillPieces = 1

    var tokens: [Int32] { prompt + output }
    var workers: [Worker] { [workerA, workerB] }

    /// A's (fake) output rows for positions `position..<position+count`: what it sends B.
    static func activations(position: Int, count: Int) -> [Float] {
        (0..<(count * 4)).map { Float(position * 10 + $0) / 7 }
    }

    /// The unsigned commitments of one step's chain: every piece at A, then every piece at B.
    func chain(step: UInt64, pieces: [(position: Int, count: Int)], replay: Bool = false)
        -> [StepCommitment]
    {
        let time: Int64 = 1_700_000_000_000 + Int64(step) * 100
        var first: [StepCommitment] = []
        var last: [StepCommitment] = []
        for (position, count) in pieces {
            let rows = Self.activations(position: position, count: count)
            first.append(
                StepCommitment(
                    workerID: workerA.id, sessionID: sessionID, step: step, layers: workerA.layers,
                    shardSHA256: workerA.shard, position: position, count: count,
                    inputDigest: Digests.tokens(tokens[position..<(position + count)]),
                    outputDigest: Digests.floats(rows), fingerprint: [1, 2, 3],
                    isLastStage: false, sampledToken: 0, replay: replay,
                    arithmetic: EngineArithmetic.version,
                    unixMilliseconds: time))
            let next = position + count < tokens.count ? tokens[position + count] : 0
            last.append(
                StepCommitment(
                    workerID: workerB.id, sessionID: sessionID, step: step, layers: workerB.layers,
                    shardSHA256: workerB.shard, position: position, count: count,
                    inputDigest: Digests.floats(rows),
                    outputDigest: StepCommitment.tokenDigest(next), fingerprint: [4, 5, 6],
                    isLastStage: true, sampledToken: next, replay: replay,
                    arithmetic: EngineArithmetic.version,
                    unixMilliseconds: time + 40))
        }
        return first + last
    }

    /// Every step's chain, unsigned.
    func chains() -> [CommitmentChain] {
        let size = (prompt.count + prefillPieces - 1) / prefillPieces
        let pieces = stride(from: 0, to: prompt.count, by: size).map {
            (position: $0, count: min(size, prompt.count - $0))
        }
        var chains = [CommitmentChain(attempt: 0, commitments: chain(step: 0, pieces: pieces))]
        for index in 1..<output.count {
            chains.append(
                CommitmentChain(
                    attempt: 0,
                    commitments: chain(
                        step: UInt64(index), pieces: [(prompt.count + index - 1, 1)])))
        }
        return chains
    }

    /// Signs each commitment with its worker's key (after `modify`, so the worker signs the
    /// change), then builds and signs the receipt over them as an honest gateway would.
    /// Without `chains`, the steps' chains in a session of the receipt's own (`sess-<id>`):
    /// records of different ids never share a commitment.
    func record(
        id: String = "rcpt-1",
        modify: (_ chain: Int, _ commitment: inout StepCommitment) -> Void = { _, _ in },
        chains: [CommitmentChain]? = nil
    ) -> ReceiptRecord {
        var session = self
        session.sessionID = "sess-\(id)"
        var chains = chains ?? session.chains()
        for c in chains.indices {
            for i in chains[c].commitments.indices {
                modify(c, &chains[c].commitments[i])
                sign(&chains[c].commitments[i])
            }
        }
        return receipt(id: id, over: chains)
    }

    func sign(_ commitment: inout StepCommitment) {
        let signer = workers.first { $0.id == commitment.workerID } ?? workerA
        commitment.sign(with: signer.identity)
    }

    /// The gateway's receipt over already signed chains.
    func receipt(id: String, over chains: [CommitmentChain]) -> ReceiptRecord {
        var record = ReceiptRecord(
            receipt: ReceiptBody(
                receiptID: id, merkleRoot: [], modelName: "test-model",
                modelSHA256: String(repeating: "c", count: 64),
                stages: workers.map {
                    ReceiptStage(workerID: $0.id, shardSHA256: $0.shard, layers: $0.layers)
                },
                leafCount: chains.reduce(0) { $0 + $1.commitments.count },
                unixMilliseconds: 1_700_000_001_000, gatewayID: gatewayID,
                gatewayPublicKey: gateway.publicKey),
            promptTokens: prompt, outputTokens: output, chains: chains)
        record.receipt.merkleRoot = record.merkleTree.root
        record.receipt.sign(with: gateway)
        return record
    }

    /// The validator as the verifier would build it with every key pinned.
    var validator: RecordValidator {
        RecordValidator(
            gatewayKey: gateway.publicKey,
            workerKeys: Dictionary(
                uniqueKeysWithValues: workers.map { ($0.id, $0.identity.publicKey) }))
    }

    /// The record on the wire, with greedy sampler settings.
    static func wire(_ record: ReceiptRecord) -> Tessera_V1_ReceiptRecord {
        var wire = Tessera_V1_ReceiptRecord(record)
        wire.sampling = Tessera_V1_SamplingParams(
            SamplingParameters(temperature: 0, seed: 7, maxTokens: 16))
        return wire
    }
}

/// A replayer whose verdicts the test decides: pass every stage, fail one worker, throw
/// (the verifier's own trouble), or wait until cancelled. Counts its replays.
final class ScriptedReplayer: ReceiptReplaying {
    enum Script: Sendable {
        case pass
        case fail(workerID: String)
        case error
        case hang
    }

    private let state: Mutex<(script: Script, replays: [String])>

    init(_ script: Script = .pass) {
        state = Mutex((script, []))
    }

    var script: Script {
        get { state.withLock { $0.script } }
        set { state.withLock { $0.script = newValue } }
    }

    var replays: [String] { state.withLock { $0.replays } }

    struct ShardUnavailable: Error {}

    func replay(_ record: ReceiptRecord, sampling: SamplingParameters) async throws
        -> ReplayOutcome
    {
        let script = state.withLock { state -> Script in
            state.replays.append(record.receipt.receiptID)
            return state.script
        }
        // As the real replayer does before anything else.
        if let reason = ArithmeticCheck.unverifiableReason(record) {
            return .unverifiable(reason)
        }
        var stages = record.receipt.stages.map {
            StageCheckResult(
                workerID: $0.workerID, layers: $0.layers, steps: 3, minCosine: 0.9999,
                maxRelativeError: 1e-5, maxNormError: 1e-5, passed: true)
        }
        switch script {
        case .pass:
            return ReplayOutcome(stages: stages, fault: nil, computeSeconds: 0.25)
        case .fail(let workerID):
            guard let index = stages.firstIndex(where: { $0.workerID == workerID }) else {
                return ReplayOutcome(stages: stages, fault: nil, computeSeconds: 0.25)
            }
            stages[index].passed = false
            stages[index].minCosine = 0.2
            return ReplayOutcome(
                stages: stages,
                fault: ReplayFault(
                    workerID: workerID, layers: stages[index].layers,
                    reason: "fingerprint far outside the honest band"),
                computeSeconds: 0.25)
        case .error:
            throw ShardUnavailable()
        case .hang:
            try await Task.sleep(for: .seconds(3600))
            throw CancellationError()
        }
    }
}

/// A verifier in-process with a scripted replayer over a state directory.
enum VerifierHarness {
    typealias API = Tessera_V1_Verifier.Client<InProcessTransport.Client>

    static func stateDirectory() -> String {
        FileManager.default.temporaryDirectory
            .appendingPathComponent("tessera-verifier-\(UInt64.random(in: 0...UInt64.max))").path
    }

    static func configuration(stateDirectory: String) -> VerifierConfiguration {
        var configuration = VerifierConfiguration()
        configuration.stateDirectory = stateDirectory
        configuration.grpcAddress = loopbackAnyPort
        configuration.httpAddress = nil
        configuration.selectionSeed = 42
        return configuration
    }

    /// Runs a verifier and calls `body` once it reports SERVING; then stops it.
    static func serving<Result: Sendable>(
        _ configuration: VerifierConfiguration, replayer: ScriptedReplayer,
        recorder: LogRecorder = LogRecorder(), _ body: (API) async throws -> Result
    ) async throws -> Result {
        let application = try buildVerifier(
            configuration, logger: recorder.logger, replayer: replayer)
        return try await application.withInProcessServer { client in
            guard try await eventually({ await HealthProbe.isServing(client) }) else {
                throw NotServing()
            }
            return try await body(API(wrapping: client))
        }
    }

    struct NotServing: Error {}

    /// Registers the gateway and both workers (each with `deposit`).
    static func register(_ fixture: VerifierFixture, deposit: UInt64 = 1000, _ api: API)
        async throws
    {
        _ = try await api.registerGatewayKey(
            .with {
                $0.gatewayID = fixture.gatewayID
                $0.publicKey = .init(fixture.gateway.publicKey)
            })
        for worker in fixture.workers {
            _ = try await api.registerWorkerKey(
                .with {
                    $0.workerID = worker.id
                    $0.publicKey = .init(worker.identity.publicKey)
                    $0.deposit = deposit
                })
        }
    }

    static func submit(_ records: [ReceiptRecord], _ api: API) async throws
        -> Tessera_V1_SubmitReceiptsResponse
    {
        try await api.submitReceipts(.with { $0.records = records.map(VerifierFixture.wire) })
    }

    static func state(_ id: String, _ api: API) async throws -> Tessera_V1_ReceiptState {
        try await api.getReceipt(.with { $0.receiptID = id }).state
    }

    static func reputation(_ id: String, _ api: API) async throws -> Tessera_V1_Reputation {
        try await api.getReputation(.with { $0.workerID = id }).reputation
    }

}

/// The fixture itself: what it builds is what an honest cluster would submit.
@Suite struct VerifierFixtureTests {
    @Test func anHonestRecordIsSoundAndSurvivesTheWire() throws {
        for pieces in [1, 2, 4] {
            var fixture = VerifierFixture()
            fixture.prefillPieces = pieces
            let record = fixture.record()
            #expect(fixture.validator.check(record) == .sound, "\(pieces) pieces")
            let wire = VerifierFixture.wire(record)
            let back = try Tessera_V1_ReceiptRecord(
                serializedBytes: wire.serializedBytes() as [UInt8])
            #expect(back.domain == record)
            #expect(fixture.validator.check(back.domain) == .sound)
        }
    }
}
