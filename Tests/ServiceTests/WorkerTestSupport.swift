import Foundation
import GGUF
import GRPCCore
import Inference
import InferenceWorker
import Integrity
import Logging
import ModelStore
import ServiceKit
import Synchronization
import TesseraProto

/// Shards of the default model cut once per test process, prompts from the llama.cpp
/// reference file, and the single-process engine the worker pipeline is compared with.
enum WorkerFixtures {
    struct Missing: Error, CustomStringConvertible {
        var description: String { "test model not found at \(modelPath); run scripts/fetch-model" }
    }

    static let modelPath = ModelLocator.path(forName: ModelLocator.defaultModelName)
    static let directory = FileManager.default.temporaryDirectory
        .appendingPathComponent("tessera-worker-fixtures-\(getpid())").path

    private static let model = Result { () throws -> (file: GGUFFile, sha: String) in
        guard FileManager.default.fileExists(atPath: modelPath) else { throw Missing() }
        return (try GGUFFile(path: modelPath), try FileDigest.sha256Hex(ofFile: modelPath))
    }
    private static let cut = Mutex<[Range<Int>: ShardInfo]>([:])

    static func modelFile() throws -> GGUFFile { try model.get().file }
    static func modelSHA() throws -> String { try model.get().sha }

    /// The shard for `layers`, cut on first use into this process's fixture directory.
    static func shard(_ layers: Range<Int>) throws -> ShardInfo {
        try cut.withLock { cut in
            if let info = cut[layers] { return info }
            try FileManager.default.createDirectory(
                atPath: directory, withIntermediateDirectories: true)
            let info = try ShardCutter.cut(
                model: try modelFile(), modelSHA256: try modelSHA(), layers: layers,
                to: "\(directory)/\(layers.lowerBound)-\(layers.upperBound).gguf")
            cut[layers] = info
            return info
        }
    }

    static func path(of shard: ShardInfo) -> String {
        "\(directory)/\(shard.layers.lowerBound)-\(shard.layers.upperBound).gguf"
    }

    static func reference(_ shard: ShardInfo) throws -> Tessera_V1_ShardRef {
        .with {
            $0.sha256 = shard.sha256
            $0.model.sha256 = (try? modelSHA()) ?? ""
            $0.layers = range(shard.layers)
            $0.sizeBytes = UInt64(shard.sizeBytes)
            $0.hasEmbedding_p = shard.hasEmbedding
            $0.hasOutput_p = shard.hasOutput
        }
    }

    static func range(_ layers: Range<Int>) -> Tessera_V1_LayerRange {
        Tessera_V1_LayerRange(layers)
    }

    /// Prompt token ids of the named prompt in Tests/Reference/logits.json.
    static func prompt(_ name: String) throws -> [Int32] {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .deletingLastPathComponent()
            .appendingPathComponent("Reference/logits.json")
        struct File: Decodable {
            struct Prompt: Decodable {
                var name: String
                var prompt_ids: [Int32]
            }
            var prompts: [Prompt]
        }
        let file = try JSONDecoder().decode(File.self, from: Data(contentsOf: url))
        guard let prompt = file.prompts.first(where: { $0.name == name }) else { throw Missing() }
        return prompt.prompt_ids
    }

    /// The single-process engine: one stage over all 30 layers, the same sampler, the same
    /// positions as `LocalGenerator` (prefill, then one token at a time). Returns the sampled
    /// tokens and the logits after the prefill.
    static func referenceTokens(
        prompt: [Int32], count: Int, parameters: SamplingParameters = .greedy
    ) throws -> (tokens: [Int32], prefillLogits: [Float]) {
        let stage = try TransformerStage(file: try modelFile(), layers: 0..<30, threads: 1)
        let session = try stage.makeSession(contextLength: prompt.count + count + 1)
        let sampler = try Sampler(parameters: parameters)
        var sequence = prompt
        var logits = try stage.forward(.tokens(prompt), session: session).values
        let prefillLogits = logits
        var tokens: [Int32] = []
        while tokens.count < count {
            let token = try sampler.sample(
                logits: logits, recentTokens: sequence, position: sequence.count)
            tokens.append(token)
            sequence.append(token)
            if tokens.count < count {
                logits = try stage.forward(.tokens([token]), session: session).values
            }
        }
        return (tokens, prefillLogits)
    }
}

/// One in-process worker with its own shard directory.
struct ShardWorker {
    let service: RunningService
    let id: String
    let shardDirectory: String
    var address: String { service.addresses.grpc.description }

    /// Starts a worker whose shard directory already holds `shards` (hard links to the
    /// fixtures, so LoadShard finds them cached) and loads them. Without a scheduler the
    /// worker keeps retrying registration in the background, which does not affect serving.
    static func start(
        id: String, shards: [ShardInfo] = [], memory: UInt64 = 1 << 30,
        scheduler: ListenAddress? = nil,
        shardDirectory: String? = nil, maxActivationBytes: Int? = nil,
        sessionIdleTimeout: Duration? = nil, maxSessions: Int = 0, diskBudget: UInt64? = nil,
        logger: Logger = quietLogger
    ) async throws -> ShardWorker {
        let directory =
            shardDirectory
            ?? FileManager.default.temporaryDirectory
            .appendingPathComponent("tessera-worker-\(id)-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(
            atPath: directory, withIntermediateDirectories: true)
        for shard in shards {
            let target = "\(directory)/\(shard.sha256).gguf"
            if !FileManager.default.fileExists(atPath: target) {
                try FileManager.default.linkItem(
                    atPath: WorkerFixtures.path(of: shard), toPath: target)
            }
        }
        var configuration = WorkerConfiguration()
        configuration.grpcAddress = loopbackAnyPort
        configuration.httpAddress = loopbackAnyPort
        let unreachable = ListenAddress(host: "127.0.0.1", port: try freePort())
        configuration.schedulerAddress = scheduler ?? unreachable
        configuration.memoryBudgetBytes = memory
        configuration.threads = 1
        configuration.workerID = id
        configuration.shardDirectory = directory
        if let maxActivationBytes { configuration.maxActivationMessageBytes = maxActivationBytes }
        if let sessionIdleTimeout { configuration.sessionIdleTimeout = sessionIdleTimeout }
        configuration.maxSessions = maxSessions
        if let diskBudget { configuration.diskBudgetBytes = diskBudget }
        let service = try await buildInferenceWorker(configuration, logger: logger).start()
        let worker = ShardWorker(service: service, id: id, shardDirectory: directory)
        for shard in shards {
            let response = try await worker.api {
                try await $0.loadShard(.with { $0.shard = try WorkerFixtures.reference(shard) })
            }
            guard !response.downloaded else { throw UnexpectedDownload() }
        }
        return worker
    }

    struct UnexpectedDownload: Error {}

    func hop(_ shard: ShardInfo) -> Tessera_V1_PipelineHop {
        .with {
            $0.workerID = id
            $0.address = address
            $0.layers = WorkerFixtures.range(shard.layers)
            $0.shardSha256 = shard.sha256
        }
    }

    func api<Result: Sendable>(
        _ body: (Tessera_V1_InferenceWorker.Client<TesseraClientTransport>) async throws -> Result
    ) async throws -> Result {
        try await ServiceClient.with(service.addresses.grpc) { client in
            try await body(Tessera_V1_InferenceWorker.Client(wrapping: client))
        }
    }

    func status() async throws -> Tessera_V1_GetStatusResponse {
        try await api { try await $0.getStatus(.init()) }
    }
}

/// A pipeline as the gateway would open it: stage 0's worker gets `open` with the other
/// stages as `downstream`.
struct TestPipeline {
    var stages: [(worker: ShardWorker, shard: ShardInfo)]

    func open(
        session: String = UUID().uuidString, contextLength: UInt32 = 256,
        sampling: Tessera_V1_SamplingParams = .init(),
        topLogits: UInt32 = 0, activation: Tessera_V1_DType = .unspecified
    ) -> Tessera_V1_SessionOpen {
        .with {
            $0.sessionID = session
            $0.shardSha256 = stages[0].shard.sha256
            $0.layers = WorkerFixtures.range(stages[0].shard.layers)
            $0.downstream = stages.dropFirst().map { $0.worker.hop($0.shard) }
            $0.contextLength = contextLength
            $0.sampling = sampling
            $0.topLogits = topLogits
            $0.activationDtype = activation
        }
    }

    var entry: ListenAddress { stages[0].worker.service.addresses.grpc }
}

/// What came back on one Forward stream: every response, then the error that ended it.
struct ForwardOutcome: Sendable {
    var responses: [Tessera_V1_ForwardResponse] = []
    var error: RPCError?

    var tokens: [Int32] { responses.map(\.token) }
    var failedWorker: String? {
        error?.metadata[stringValues: "tessera-failed-worker"].first(where: { _ in true })
    }
}

enum ForwardDriver {
    /// Opens a stream at `address`, sends `open` and `first`, then after each response sends
    /// whatever `next` returns for the responses so far (nil half-closes). Any failure is
    /// captured in the outcome; the whole exchange is bounded by `timeout`.
    static func run(
        _ address: ListenAddress, open: Tessera_V1_SessionOpen?, first: Tessera_V1_ForwardStep?,
        timeout: Duration = .seconds(120),
        next: @escaping @Sendable ([Tessera_V1_ForwardResponse]) async -> Tessera_V1_ForwardStep? =
            { _ in nil }
    ) async -> ForwardOutcome {
        let (steps, stepSink) = AsyncStream<Tessera_V1_ForwardStep>.makeStream()
        if let first { stepSink.yield(first) } else { stepSink.finish() }
        do {
            return try await ServiceClient.with(address) { client in
                try await Tessera_V1_InferenceWorker.Client(wrapping: client).forward(
                    options: .timeout(timeout),
                    requestProducer: { writer in
                        if let open { try await writer.write(.with { $0.open = open }) }
                        for await step in steps { try await writer.write(.with { $0.step = step }) }
                    },
                    onResponse: { response in
                        var outcome = ForwardOutcome()
                        do {
                            for try await message in response.messages {
                                outcome.responses.append(message)
                                if let step = await next(outcome.responses) {
                                    stepSink.yield(step)
                                } else {
                                    stepSink.finish()
                                }
                            }
                        } catch let error as RPCError {
                            outcome.error = error
                        }
                        stepSink.finish()
                        return outcome
                    })
            }
        } catch let error as RPCError {
            return ForwardOutcome(error: error)
        } catch {
            return ForwardOutcome(error: RPCError(code: .unknown, message: "\(error)"))
        }
    }

    static func step(_ number: UInt64, position: Int, tokens: [Int32], logits: Bool = false)
        -> Tessera_V1_ForwardStep
    {
        .with {
            $0.step = number
            $0.position = UInt32(position)
            $0.tokens = tokens
            $0.returnLogits = logits
        }
    }

    /// Prefill `prompt`, then feed back each sampled token until `count` tokens came back.
    static func generate(
        _ pipeline: TestPipeline, open: Tessera_V1_SessionOpen, prompt: [Int32], count: Int,
        prefillLogits: Bool = false
    ) async -> ForwardOutcome {
        await run(
            pipeline.entry, open: open,
            first: step(0, position: 0, tokens: prompt, logits: prefillLogits)
        ) { responses in
            guard responses.count < count, let last = responses.last else { return nil }
            return step(
                UInt64(responses.count), position: prompt.count + responses.count - 1,
                tokens: [last.token])
        }
    }
}
