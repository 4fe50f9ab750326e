import GRPCCore
import Logging
import ServiceKit
import TesseraProto
import Tokenization
import Tracing

/// A model the gateway can serve, as `ListServedModels` and `/v1/models` list it.
struct ServedModel: Sendable {
    var model: ModelReference
    /// Tokens a session may hold: the model's context, capped by what the pipelines reserved.
    var contextLength: Int
    /// A complete pipeline is ready for it.
    var ready: Bool
    /// The scheduler's `ServingState` name: cold, loading, warm or evicting.
    var state = "cold"
    /// Pipelines the scheduler planned for it now.
    var replicas = 0
}

/// The generation path both APIs share: resolve the model's vocabulary, tokenize, validate,
/// and hand back a session ready to run; plus the list of served models.
final class GatewayEngine: Sendable {
    static let chatRoles: Set<String> = ["system", "user", "assistant"]

    let vocabularies: VocabularyStore
    let router: PipelineRouter
    let workers: ClientPool
    /// Lease releases and failure reports (see PipelineRouter).
    let background: BackgroundWork
    /// The pipelines' `Forward` calls (see PipelineStream.run).
    let calls: BackgroundWork
    /// Renews the leases of running generations (see LeaseRenewal).
    let leases: LeaseRenewal
    let cacheManager: Tessera_V1_CacheManager.Client<TesseraClientTransport>
    let scheduler: Tessera_V1_Scheduler.Client<TesseraClientTransport>
    let logger: Logger
    let defaultMaxTokens: Int
    let maxFailovers: Int
    let exactReplay: Bool
    let directAnswers: Bool
    let stall: StallPolicy
    let receipts: ReceiptIssuer
    let quarantine: QuarantineWatch

    init(
        cacheManager: Tessera_V1_CacheManager.Client<TesseraClientTransport>,
        scheduler: Tessera_V1_Scheduler.Client<TesseraClientTransport>,
        schedulerWatch: SchedulerWatch, receipts: ReceiptIssuer = ReceiptIssuer(),
        configuration: GatewayConfiguration, logger: Logger
    ) {
        self.receipts = receipts
        quarantine = QuarantineWatch(scheduler: scheduler, logger: logger)
        self.cacheManager = cacheManager
        self.scheduler = scheduler
        self.logger = logger
        vocabularies = VocabularyStore(cacheManager: cacheManager, logger: logger)
        background = BackgroundWork()
        // At shutdown the listeners have drained: a call still open is stuck on a stopped worker.
        calls = BackgroundWork(cancelsAtShutdown: true)
        leases = LeaseRenewal(scheduler: scheduler, logger: logger)
        router = PipelineRouter(
            scheduler: scheduler, schedulerWatch: schedulerWatch, background: background,
            leases: leases, logger: logger, waitLimit: configuration.pipelineWaitLimit,
            admission: AdmissionQueue(
                limits: AdmissionQueue.Limits(
                    maxQueued: configuration.maxQueued, maxWait: configuration.maxQueueWait,
                    refuseEarly: configuration.refuseByPredictedWait)))
        workers = ClientPool()
        defaultMaxTokens = configuration.defaultMaxTokens
        maxFailovers = configuration.maxFailovers
        exactReplay = configuration.exactReplay
        directAnswers = configuration.directAnswers
        stall = StallPolicy(
            multiplier: configuration.stallMultiplier, floor: configuration.stallFloor,
            ceiling: configuration.stepTimeout)
    }

    /// Everything up to the first token: the caller can still answer with an error status.
    /// `deadline`: the gRPC client's, if it set one. `ticket`: the request's API key hold.
    func prepare(
        model: String, prompt input: PromptInput, sampling: Tessera_V1_SamplingParams,
        topLogits: UInt32 = 0, requestID: String = RequestID.make(),
        deadline: RequestDeadline? = nil, ticket: KeyTicket? = nil
    ) async throws -> GenerationSession {
        var logger = self.logger
        logger[metadataKey: RequestID.logKey] = "\(requestID)"
        let options = try GenerationOptions(
            sampling, topLogits: topLogits, defaultMaxTokens: defaultMaxTokens)
        if case .chat(let messages, _) = input { try Self.validate(messages) }
        let vocabulary = try await vocabularies.vocabulary(for: model)
        do {
            try options.parameters.validate(vocabularySize: vocabulary.tokenizer.vocabularySize)
        } catch {
            throw GatewayError(error)
        }
        let tokens: [Int32] = withSpan("tokenize") { span in
            let tokens: [Int32]
            switch input {
            case .text(let text, let parseSpecial):
                tokens = vocabulary.encode(prompt: text, parseSpecial: parseSpecial)
            case .chat(let messages, let parseSpecial):
                tokens = vocabulary.encode(chat: messages, parseSpecial: parseSpecial)
            }
            span.attributes[TraceAttribute.promptTokens] = tokens.count
            return tokens
        }
        var session = GenerationSession(
            vocabulary: vocabulary, prompt: tokens, options: options, router: router,
            workers: workers, calls: calls, logger: logger, requestID: requestID,
            maxFailovers: maxFailovers, exactReplay: exactReplay, stall: stall,
            receipts: receipts, quarantine: quarantine, deadline: deadline)
        session.ticket = ticket
        session.directAnswers = directAnswers
        try session.validate()
        return session
    }

    static func validate(_ messages: [ChatMessage]) throws {
        guard !messages.isEmpty else {
            throw GatewayError.invalid("messages must not be empty", parameter: "messages")
        }
        for (index, message) in messages.enumerated() where !chatRoles.contains(message.role) {
            throw GatewayError.invalid(
                "messages[\(index)].role must be system, user or assistant (got \"\(message.role)\")",
                parameter: "messages")
        }
    }

    /// The models the scheduler serves, with their states (`ListModelStates`). A scheduler
    /// that cannot list them (an older one) leaves the older answer: every model the
    /// cache-manager holds, marked ready when the scheduler has a complete pipeline for it.
    func servedModels() async throws -> [ServedModel] {
        let rows: [Tessera_V1_ModelServingState]
        do {
            rows = try await scheduler.listModelStates(.init(), options: .timeout(.seconds(5)))
                .models
        } catch let error as RPCError where error.code == .unimplemented {
            return try await catalogModels()
        } catch let error as RPCError {
            throw GatewayError(
                .unavailable, "the scheduler cannot list the models it serves: \(error.message)")
        }
        return rows.map { row in
            ServedModel(
                model: row.model.domain, contextLength: Int(row.contextLength),
                ready: row.readyReplicas > 0, state: row.state, replicas: Int(row.replicas))
        }
    }

    private func catalogModels() async throws -> [ServedModel] {
        let manifests: [Tessera_V1_ModelManifest]
        do {
            manifests = try await cacheManager.listModels(.init(), options: .timeout(.seconds(10)))
                .models
        } catch let error as RPCError {
            throw GatewayError(
                .unavailable, "the cache-manager cannot list models: \(error.message)")
        }
        var served: [ServedModel] = []
        for manifest in manifests {
            let placement = try? await scheduler.getPlacement(
                .with { $0.model = manifest.model.sha256 }, options: .timeout(.seconds(5)))
            let ready =
                placement?.pipelines.contains { pipeline in
                    !pipeline.draining && !pipeline.stages.isEmpty
                        && pipeline.stages.allSatisfy(\.ready)
                } ?? false
            // A session holds what the pipelines reserved KV memory for, if less than the model's.
            let reserved = placement?.pipelines.map(\.contextLength).filter { $0 > 0 }.min()
            served.append(
                ServedModel(
                    model: manifest.model.domain,
                    contextLength: Int(
                        min(manifest.contextLength, reserved ?? manifest.contextLength)),
                    ready: ready, state: ready ? "warm" : "cold",
                    replicas: placement?.pipelines.filter { !$0.draining }.count ?? 0))
        }
        return served
    }

    /// Loads the default model's vocabulary in the background, retrying while the
    /// cache-manager is not up, so the first request does not pay for it.
    func warmUp() async {
        var backoff = Backoff(initial: .milliseconds(200), maximum: .seconds(5))
        while !Task.isCancelled {
            do {
                _ = try await vocabularies.vocabulary(for: "")
                return
            } catch let error as GatewayError where error.kind == .unavailable {
                logger.debug(
                    "default model vocabulary not available yet", metadata: ["error": "\(error)"])
            } catch {
                logger.notice(
                    "default model vocabulary not loaded; will load on first use",
                    metadata: ["error": "\(error)"])
                return
            }
            try? await Task.sleep(for: backoff.next())
        }
    }
}
