import Logging
import Placement
import ServiceKit
import ServiceLifecycle
import TesseraProto

public struct SchedulerConfiguration: Sendable {
    public var grpcAddress = ListenAddress(host: "127.0.0.1", port: 7401)
    public var httpAddress: ListenAddress? = ListenAddress(host: "127.0.0.1", port: 9401)
    /// How often workers should send heartbeats, and how long silence lasts before a drop.
    public var heartbeatInterval: Duration = .seconds(2)
    public var workerExpiry: Duration = .seconds(6)
    /// Where model manifests and shards come from.
    public var cacheManagerAddress = ListenAddress(host: "127.0.0.1", port: 7402)
    /// The model this scheduler places and routes (name or SHA-256 known to the cache-manager).
    public var model = "smollm2-135m"
    /// Context tokens to reserve KV memory for, per session.
    public var contextLength = 2048
    /// Sessions per worker to reserve KV memory for.
    public var sessionsPerWorker = 2
    /// A lease the gateway has not renewed for this long is released (a crashed gateway).
    public var leaseTTL: Duration = .seconds(30)
    public var maxPipelines = 16
    /// A replica is planned only while predicted within this × the primary's time per token.
    public var replicaLatencyFactor = 2.0
    /// Cost of passing activations between two workers (latency, bandwidth).
    public var linkLatencySeconds = 0.0005
    public var linkBytesPerSecond = 500_000_000.0
    /// Where reputations come from. nil: no verifier, and every worker counts as trusted.
    public var verifierAddress: ListenAddress?
    /// How often the verifier's reputations are read.
    public var reputationPollInterval: Duration = .seconds(2)
    /// An unpinned model nobody used for this long is evicted (its marks may set another).
    public var idleTimeout: Duration = .seconds(600)
    /// A cold start not ready after this long is given up; requests are told why.
    public var coldStartTimeout: Duration = .seconds(60)
    /// The slow loop's period (demand forecast, replicas, pre-staging shards on disks).
    public var cacheInterval: Duration = .seconds(120)
    /// How often the catalog's serving marks are read.
    public var catalogInterval: Duration = .seconds(3)
    /// A model that became warm is not evicted for another one within this long.
    public var minimumKeepAlive: Duration = .seconds(10)
    /// Where machines without a certificate enroll with a join token. nil: no enrollment.
    public var enrollment: EnrollmentSettings?

    public init() {}
}

/// Builds the scheduler: its gRPC API, the worker registry with its expiry sweeper, the
/// plan loop that places the model's shards on workers and, with a verifier, the poller
/// that keeps quarantined workers out of placement.
public func buildScheduler(_ configuration: SchedulerConfiguration, logger: Logger) throws
    -> ServiceApplication
{
    let registry = WorkerRegistry(expiry: configuration.workerExpiry)
    let model = OneShot<ServedModel>()
    let models = ServedModels(
        defaultName: configuration.model, defaultModel: model, defaultPipelines: LivePipelines(),
        defaultIdleTimeout: configuration.idleTimeout, wake: registry.membershipChanged)
    let cacheClient = try ServiceClient.make(configuration.cacheManagerAddress)
    let source = ModelSource(
        cacheManager: Tessera_V1_CacheManager.Client(wrapping: cacheClient),
        cacheManagerAddress: configuration.cacheManagerAddress, modelName: configuration.model)
    let workerClients = ClientPool()
    var settings = PlanSettings()
    settings.contextLength = configuration.contextLength
    settings.sessionsPerWorker = configuration.sessionsPerWorker
    settings.maxPipelines = configuration.maxPipelines
    settings.replicaLatencyFactor = configuration.replicaLatencyFactor
    settings.links = LinkModel(
        defaultLink: Link(
            latencySeconds: configuration.linkLatencySeconds,
            bytesPerSecond: configuration.linkBytesPerSecond))
    settings.leaseTTL = configuration.leaseTTL
    settings.idleTimeout = configuration.idleTimeout
    settings.coldStartTimeout = configuration.coldStartTimeout
    settings.cacheInterval = configuration.cacheInterval
    settings.catalogInterval = configuration.catalogInterval
    settings.minimumKeepAlive = configuration.minimumKeepAlive
    let routing = Routing(
        registry: registry, models: models, logger: logger, leaseTTL: configuration.leaseTTL)
    let planLoop = PlanLoop(
        registry: registry, models: models, source: source,
        deployer: ShardDeployer(
            source: source, workers: workerClients, registry: registry,
            contextLength: configuration.contextLength, logger: logger),
        settings: settings, logger: logger,
        prestager: ShardPrestager(source: source, workers: workerClients, logger: logger))
    // The clients the plan loop, the poller and the handlers use close after they stopped.
    var dependencies: [any Service] = [ClientService(client: cacheClient), workerClients]
    var backgroundServices: [any Service] = [
        WorkerExpiryService(registry: registry, logger: logger),
        planLoop,
    ]
    if let verifierAddress = configuration.verifierAddress {
        let verifierClient = try ServiceClient.make(verifierAddress)
        dependencies.append(ClientService(client: verifierClient))
        backgroundServices.append(
            ReputationPoller(
                verifier: Tessera_V1_Verifier.Client(wrapping: verifierClient),
                registry: registry, interval: configuration.reputationPollInterval,
                logger: logger))
    }
    if let enrollment = configuration.enrollment {
        backgroundServices.append(
            try EnrollmentListener(
                address: enrollment.address, security: enrollment.security ?? .processWide,
                logger: logger,
                bound: enrollment.bound
            ) {
                let authority = try EnrollmentAuthority(
                    directory: CertificateDirectory(path: enrollment.certificateDirectory))
                return [EnrollmentService(authority: authority, logger: logger)]
            })
    }
    return ServiceApplication(
        name: "scheduler", grpcAddress: configuration.grpcAddress,
        httpAddress: configuration.httpAddress,
        logger: logger,
        rpcServices: [
            SchedulerService(
                registry: registry, heartbeatInterval: configuration.heartbeatInterval,
                routing: routing, logger: logger,
                marker: ServingMarker(
                    cacheManager: source.cacheManager, registry: registry, models: models,
                    settings: settings, logger: logger),
                workerClients: workerClients)
        ],
        dependencies: dependencies,
        backgroundServices: backgroundServices)
}
