import CacheManager
import Foundation
import GGUF
import GRPCCore
import Gateway
import Inference
import InferenceWorker
import Scheduler
import ServiceKit
import TesseraProto
import Tokenization

/// A whole Tessera cluster in this process on 127.0.0.1: a cache-manager with the real
/// default model preloaded, a scheduler placing it, two workers and the gateway. Started
/// once and shared by the gateway suites (starting one costs seconds of CPU on a small box).
final class GatewayTestCluster: Sendable {
    let cacheManager: RunningService
    let scheduler: RunningService
    let workers: [RunningService]
    let gateway: RunningService

    var grpc: ListenAddress { gateway.addresses.grpc }
    var http: ListenAddress { gateway.addresses.http! }

    private init(
        cacheManager: RunningService, scheduler: RunningService, workers: [RunningService],
        gateway: RunningService
    ) {
        self.cacheManager = cacheManager
        self.scheduler = scheduler
        self.workers = workers
        self.gateway = gateway
    }

    private static let instance = Task { try await GatewayTestCluster.start() }

    /// The shared cluster, with a pipeline for the model ready.
    static func shared() async throws -> GatewayTestCluster {
        try await instance.value
    }

    static var modelPath: String { ModelLocator.path(forName: ModelLocator.defaultModelName) }

    private static func start() async throws -> GatewayTestCluster {
        let store = FileManager.default.temporaryDirectory.appendingPathComponent(
            "tessera-gateway-tests-\(getpid())")
        var cacheConfiguration = CacheManagerConfiguration()
        cacheConfiguration.grpcAddress = loopbackAnyPort
        cacheConfiguration.httpAddress = nil
        cacheConfiguration.storeDirectory = store.appendingPathComponent("store").path
        cacheConfiguration.preloadModels = [modelPath]
        let cacheManager = try await buildCacheManager(cacheConfiguration, logger: quietLogger)
            .start()

        var schedulerConfiguration = SchedulerConfiguration()
        schedulerConfiguration.grpcAddress = loopbackAnyPort
        schedulerConfiguration.httpAddress = nil
        schedulerConfiguration.heartbeatInterval = .milliseconds(200)
        schedulerConfiguration.workerExpiry = .seconds(3)
        schedulerConfiguration.cacheManagerAddress = cacheManager.addresses.grpc
        schedulerConfiguration.model = ModelLocator.defaultModelName
        let scheduler = try await buildScheduler(schedulerConfiguration, logger: quietLogger)
            .start()

        var workers: [RunningService] = []
        for index in 1...2 {
            var configuration = WorkerConfiguration()
            configuration.grpcAddress = loopbackAnyPort
            configuration.httpAddress = nil
            configuration.schedulerAddress = scheduler.addresses.grpc
            configuration.memoryBudgetBytes = 1 << 30
            configuration.threads = 1
            configuration.workerID = "gw-test-\(index)"
            configuration.shardDirectory = store.appendingPathComponent("shards-\(index)").path
            workers.append(
                try await buildInferenceWorker(configuration, logger: quietLogger).start())
        }

        var gatewayConfiguration = GatewayConfiguration()
        gatewayConfiguration.grpcAddress = loopbackAnyPort
        gatewayConfiguration.httpAddress = loopbackAnyPort
        gatewayConfiguration.schedulerAddress = scheduler.addresses.grpc
        gatewayConfiguration.cacheManagerAddress = cacheManager.addresses.grpc
        gatewayConfiguration.pipelineWaitLimit = .seconds(60)
        let gateway = try await buildGateway(gatewayConfiguration, logger: quietLogger).start()

        let cluster = GatewayTestCluster(
            cacheManager: cacheManager, scheduler: scheduler, workers: workers, gateway: gateway)
        let ready = try await eventually(timeout: .seconds(180)) {
            (try? await cluster.servedModels())?.contains(where: \.ready) ?? false
        }
        guard ready else { throw GatewayTestError("no pipeline became ready within 180 s") }
        return cluster
    }

    func servedModels() async throws -> [Tessera_V1_ServedModel] {
        try await ServiceClient.with(grpc) { client in
            try await Tessera_V1_Gateway.Client(wrapping: client).listServedModels(
                .init(), options: .timeout(.seconds(10))
            ).models
        }
    }

    /// One Generate or Chat stream, collected.
    func generate(_ request: Tessera_V1_GenerateRequest) async throws
        -> [Tessera_V1_GenerateResponse]
    {
        try await ServiceClient.with(grpc) { client in
            try await Tessera_V1_Gateway.Client(wrapping: client).generate(
                request, options: .timeout(.seconds(300))
            ) {
                try await Array($0.messages)
            }
        }
    }

    func chat(_ request: Tessera_V1_ChatRequest) async throws -> [Tessera_V1_GenerateResponse] {
        try await ServiceClient.with(grpc) { client in
            try await Tessera_V1_Gateway.Client(wrapping: client).chat(
                request, options: .timeout(.seconds(300))
            ) {
                try await Array($0.messages)
            }
        }
    }
}

struct GatewayTestError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

extension Array {
    init<S: AsyncSequence>(_ sequence: S) async throws where S.Element == Element {
        self.init()
        for try await element in sequence { append(element) }
    }
}

/// What `tessera run` computes on this machine for the same prompt: the reference output.
final class LocalReference: @unchecked Sendable {
    let tokenizer: Tokenizer
    private let generator: LocalGenerator
    private let lock = NSLock()

    static let shared: LocalReference = {
        // Crashing here means the model is missing, which every gateway test needs anyway.
        try! LocalReference(path: GatewayTestCluster.modelPath)
    }()

    init(path: String) throws {
        let file = try GGUFFile(path: path)
        tokenizer = try Tokenizer(gguf: file)
        let layers = try ModelHyperparameters(gguf: file).layerCount
        generator = try LocalGenerator(
            stage: TransformerStage(file: file, layers: 0..<layers, threads: 1),
            tokenizer: tokenizer)
    }

    /// `tessera run --chat`'s prompt: the template's default system prompt, one user message.
    func chatPrompt(_ messages: [ChatMessage]) throws -> [Int32] {
        let source = tokenizer.chatTemplateSource
        let template = try ChatTemplate.resolve(jinja: source, fallbackToChatML: true)
        let system = source.flatMap { ChatTemplate.defaultSystemPrompt(inJinja: $0) }
        let text = template.render(messages, addGenerationPrompt: true, defaultSystemPrompt: system)
        return tokenizer.encode(text, addSpecial: true, parseSpecial: true)
    }

    func textPrompt(_ text: String) -> [Int32] {
        tokenizer.encode(text, addSpecial: true, parseSpecial: false)
    }

    /// Token ids and text generated locally.
    func generate(_ prompt: [Int32], _ parameters: SamplingParameters) throws -> (
        ids: [Int32], text: String
    ) {
        lock.lock()
        defer { lock.unlock() }
        var ids: [Int32] = []
        var text = ""
        _ = try generator.generate(prompt: prompt, parameters: parameters) { token in
            ids.append(token.id)
            text += token.text
        }
        return (ids, text)
    }
}
