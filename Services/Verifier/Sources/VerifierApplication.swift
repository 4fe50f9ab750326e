import Logging
import ServiceKit
import ServiceLifecycle

/// Builds the verifier: it opens its store (`<state-dir>/verifier.sqlite`) first, so a
/// directory it cannot use stops it at start with the reason. Replays fetch shards from the
/// cache-manager into `<state-dir>/shards`.
public func buildVerifier(_ configuration: VerifierConfiguration, logger: Logger) throws
    -> ServiceApplication
{
    let clients = ClientPool()
    let source = CacheManagerShardSource(
        directory: configuration.stateDirectory + "/shards",
        cacheManager: configuration.cacheManagerAddress, clients: clients, logger: logger)
    let replayer = ReceiptReplayer(source: source, threads: configuration.threads)
    return try buildVerifier(
        configuration, logger: logger, replayer: replayer, dependencies: [clients])
}

/// The verifier with the replayer given (tests pass one whose verdicts they decide);
/// `dependencies` are services the replayer needs running (its client pool).
func buildVerifier(
    _ configuration: VerifierConfiguration, logger: Logger, replayer: any ReceiptReplaying,
    dependencies: [any Service] = []
) throws -> ServiceApplication {
    let store: VerifierStore
    do {
        store = try VerifierStore(directory: configuration.stateDirectory)
    } catch {
        throw ServiceError.configuration(
            "cannot use state directory \(configuration.stateDirectory): \(error)")
    }
    let reputationPolicy = configuration.reputationPolicy
    let checkerWake = WakeSignal()
    let auditor = Auditor(
        store: store, replayer: replayer, policy: reputationPolicy, logger: logger)
    let intake = ReceiptIntake(
        store: store, checkPolicy: configuration.checkPolicy, reputationPolicy: reputationPolicy,
        limits: configuration.intakeLimits, checkerWake: checkerWake, logger: logger)
    var background: [any Service] = [
        Checker(store: store, auditor: auditor, wake: checkerWake, logger: logger)
    ]
    if let gateway = configuration.gatewayAddress, let interval = configuration.canaryInterval {
        background.append(
            CanarySender(
                gateway: gateway, interval: interval, store: store, checkerWake: checkerWake,
                logger: logger, apiKey: configuration.gatewayAPIKey))
    }
    logger.info(
        "store open",
        metadata: [
            "state_dir": "\(configuration.stateDirectory)",
            "canaries": "\(configuration.canaryInterval.map { "\($0)" } ?? "off")",
        ])
    return ServiceApplication(
        name: "verifier", grpcAddress: configuration.grpcAddress,
        httpAddress: configuration.httpAddress, logger: logger,
        rpcServices: [
            VerifierService(
                store: store, intake: intake, auditor: auditor,
                reputationPolicy: reputationPolicy)
        ],
        dependencies: dependencies + [auditor], backgroundServices: background)
}
