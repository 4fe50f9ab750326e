import APIKeys
import Hummingbird
import Integrity
import Logging
import ServiceKit
import ServiceLifecycle
import TesseraProto

public struct GatewayConfiguration: Sendable {
    public var grpcAddress = ListenAddress(host: "127.0.0.1", port: 7400)
    /// The app-facing HTTP API (OpenAI-compatible); also /metrics, /healthz and /readyz
    /// unless `opsAddress` is set.
    public var httpAddress: ListenAddress? = ListenAddress(host: "127.0.0.1", port: 8080)
    /// The operators' HTTP port: /metrics, /healthz, /readyz, open without a key (the
    /// executable sets it, default 9400; nil: those stay on `httpAddress`).
    public var opsAddress: ListenAddress?
    /// Who may call the API. The executable requires keys unless told `--no-auth`; a
    /// configuration built in code (tests) is open unless it names a store.
    public var apiKeys: APIKeyPolicy = .open
    /// Open HTTP connections at most; one more is answered 503 and closed.
    public var httpMaxConnections = HTTPEndpoint.maxConnections
    public var schedulerAddress = ListenAddress(host: "127.0.0.1", port: 7401)
    public var cacheManagerAddress = ListenAddress(host: "127.0.0.1", port: 7402)
    /// How long a request waits for a ready pipeline before it is answered UNAVAILABLE / 503.
    public var pipelineWaitLimit: Duration = .seconds(30)
    /// Requests that may wait for a session slot when every slot is in use (AdmissionQueue);
    /// one more is answered 429 / RESOURCE_EXHAUSTED. 0: none waits.
    public var maxQueued = 64
    /// The longest a request waits for a session slot before 429 / RESOURCE_EXHAUSTED.
    public var maxQueueWait: Duration = .seconds(30)
    /// Refuse at once (429 / RESOURCE_EXHAUSTED) a new request whose predicted wait for a
    /// slot is longer than it may wait, instead of queueing it (AdmissionQueue, WaitPredictor).
    public var refuseByPredictedWait = true
    /// max_tokens when a request does not say.
    public var defaultMaxTokens = 256
    /// Pipelines a request may fail over to before it gives up.
    public var maxFailovers = 5
    /// After a failover, replay the output one token per step (bit-identical to the lost
    /// session) instead of in one prefill step (faster, may flip near-ties). See GenerationSession.
    public var exactReplay = true
    /// A pipeline of several stages answers decode steps from its last stage straight to the
    /// gateway (S + 1 messages per token) rather than back up through every stage (2S).
    public var directAnswers = true
    /// A pipeline that does not answer a step within this long counts as failed (failover).
    public var stepTimeout: Duration = .seconds(60)
    /// A step counts as stalled after this many times its expected time (measured decode
    /// steps, or the scheduler's prediction), but never before `stallFloor`; `stepTimeout`
    /// caps it.
    public var stallMultiplier = 5.0
    public var stallFloor: Duration = .seconds(2)
    /// Where receipts go to be checked (nil: receipts are signed and returned, not shipped).
    public var verifierAddress: ListenAddress?

    public init() {}
}

/// Builds the gateway. It reports SERVING once the scheduler answers: without it no request
/// can be placed. The default model's vocabulary loads in the background (the cache-manager
/// may start later); other models' on first use.
public func buildGateway(_ configuration: GatewayConfiguration, logger: Logger) throws
    -> ServiceApplication
{
    let schedulerClient = try ServiceClient.make(configuration.schedulerAddress)
    let cacheManagerClient = try ServiceClient.make(configuration.cacheManagerAddress)
    let scheduler = Tessera_V1_Scheduler.Client(wrapping: schedulerClient)
    let health = HealthStatusStore()
    let gatewayID = RandomID.make(prefix: "gw-", digits: 12)
    let identity = SigningIdentity()
    let verifierClient = try configuration.verifierAddress.map { try ServiceClient.make($0) }
    let uplink = verifierClient.map {
        VerifierUplink(
            client: Tessera_V1_Verifier.Client(wrapping: $0), gatewayID: gatewayID,
            publicKey: identity.publicKey, logger: logger)
    }
    let schedulerWatch = SchedulerWatch(
        scheduler: schedulerClient, health: health, healthNames: [GatewayService.healthName],
        logger: logger)
    let engine = GatewayEngine(
        cacheManager: Tessera_V1_CacheManager.Client(wrapping: cacheManagerClient),
        scheduler: scheduler, schedulerWatch: schedulerWatch,
        receipts: ReceiptIssuer(gatewayID: gatewayID, identity: identity, uplink: uplink),
        configuration: configuration, logger: logger)
    let auth = try APIKeyAuthenticator(
        configuration.apiKeys, background: engine.background, logger: logger)
    let openAI = OpenAIRoutes(engine: engine, auth: auth)
    let dashboard = DashboardRoutes(
        overview: ClusterOverviewSource(
            scheduler: scheduler, cacheManager: engine.cacheManager,
            verifier: verifierClient.map { Tessera_V1_Verifier.Client(wrapping: $0) }),
        activity: GatewayMetrics.activity, queue: engine.router.admission)
    var application = ServiceApplication(
        name: "gateway", grpcAddress: configuration.grpcAddress,
        httpAddress: configuration.httpAddress,
        logger: logger, health: health,
        rpcServices: [GatewayService(engine: engine, auth: auth)],
        httpRoutes: { router in
            // The dashboard sits beside /metrics: here unless operators have their own port.
            // First, so the API's middleware (keys, OpenAI's 404s) is not applied to it.
            if configuration.opsAddress == nil { dashboard.register(on: router) }
            // A server span per API request, continuing a `traceparent` the client sent.
            router.add(middleware: TracingMiddleware())
            openAI.register(on: router)
            OpenAPIRoute.register(on: router)
        },
        // What a generation calls stays up until the listeners have drained.
        dependencies: [
            ClientService(client: schedulerClient), ClientService(client: cacheManagerClient),
            engine.workers, engine.background, engine.leases, engine.calls,
        ] + (verifierClient.map { [ClientService(client: $0)] } ?? []),
        backgroundServices: [VocabularyWarmUp(engine: engine), schedulerWatch, engine.quarantine]
            + (uplink.map { [$0] } ?? []),
        readiness: { _ in
            var backoff = Backoff()
            while true {
                do {
                    _ = try await scheduler.listWorkers(Tessera_V1_ListWorkersRequest())
                    return
                } catch {
                    logger.notice("waiting for the scheduler", metadata: ["error": "\(error)"])
                    try await Task.sleep(for: backoff.next())
                }
            }
        })
    application.httpMaxConnections = configuration.httpMaxConnections
    application.opsAddress = configuration.opsAddress
    application.startsTraces = true  // the edge: a request without trace context starts one
    application.opsRoutes = { router in dashboard.register(on: router) }
    return application
}

/// Loads the default model's vocabulary once the cache-manager can provide it, then idles
/// until shutdown (a service that returned would end the group).
struct VocabularyWarmUp: Service {
    let engine: GatewayEngine

    func run() async throws {
        await cancelWhenGracefulShutdown { await engine.warmUp() }
        try? await gracefulShutdown()
    }
}
