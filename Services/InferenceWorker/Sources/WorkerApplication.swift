import Logging
import ServiceKit
import ServiceLifecycle

/// Builds an inference worker: its gRPC API, shard hosting, membership with the scheduler,
/// and its signing key (registered with the verifier when one is configured). It reports
/// SERVING once it has its id, has measured itself and the scheduler accepted its
/// registration; a scheduler that refuses it (its id is live elsewhere) stops it.
public func buildInferenceWorker(_ configuration: WorkerConfiguration, logger: Logger) throws
    -> ServiceApplication
{
    try buildInferenceWorker(configuration, logger: logger, faults: nil)
}

/// The same worker, with `faults` injected: for the test-only `tessera-faulty-worker` and
/// in-process tests of the verifier's detection (`package`: nothing outside Tessera reaches it).
package func buildInferenceWorker(
    _ configuration: WorkerConfiguration, logger: Logger, faults: WorkerFaults?
) throws -> ServiceApplication {
    let state = WorkerState(
        workerID: configuration.workerID, maxSessions: configuration.maxSessions)
    let budget = MemoryBudget(limit: configuration.memoryBudgetBytes)
    let peers = ClientPool()
    let files = ShardFiles(directory: configuration.shardDirectory)
    let host = ShardHost(
        files: files, downloader: ShardDownloader(clients: peers, files: files, logger: logger),
        budget: budget,
        threads: max(1, configuration.threads),
        batching: BatchLimits(sessions: configuration.maxBatch, tokens: configuration.batchTokens),
        state: state,
        logger: logger,
        mappedPath: faults?.weights?.mapping, diskBudget: configuration.diskBudgetBytes)
    let signing = try WorkerSigningKey.resolve(
        stateDirectory: configuration.resolvedStateDirectory)
    let publicKey = signing.identity.publicKey
    logger.info(
        "signing key",
        metadata: [
            "public_key": "\(WorkerSigningKey.shortHex(publicKey))", "from": "\(signing.source)",
        ])
    if let faults {
        logger.warning(
            "FAULTY WORKER: for testing the verifier only", metadata: ["faults": "\(faults)"])
    }
    let shuttingDown = OneShot<Void>()
    let stream = ForwardStream(
        environment: ForwardEnvironment(
            host: host, budget: budget, clients: peers, state: state, logger: logger,
            maxActivationBytes: max(1, configuration.maxActivationMessageBytes),
            idleTimeout: configuration.sessionIdleTimeout, identity: signing.identity,
            faults: faults.map(FaultInjector.init)),
        shuttingDown: shuttingDown)

    let client = try SchedulerLink.makeClient(configuration.schedulerAddress)
    let link = SchedulerLink(
        client: client, state: state, publicKey: publicKey, logger: logger,
        cacheReport: { await host.cacheReport() })
    let advertised = OneShot<String>()
    let identified = OneShot<String>()
    var dependencies: [any Service] = [ClientService(client: client), peers]
    var registrations: [any Service] = []
    if let verifierAddress = configuration.verifierAddress {
        let verifier = try SchedulerLink.makeClient(verifierAddress)
        dependencies.append(ClientService(client: verifier))
        registrations.append(
            VerifierRegistrationService(
                client: verifier, workerID: identified, publicKey: publicKey,
                deposit: configuration.deposit, logger: logger))
    }
    return ServiceApplication(
        name: "inference-worker", grpcAddress: configuration.grpcAddress,
        httpAddress: configuration.httpAddress,
        logger: logger,
        rpcServices: [
            InferenceWorkerService(
                state: state, host: host, stream: stream,
                allowedCacheManagers: configuration.cacheManagerAddresses)
        ],
        // The next stages and cache-managers a session calls stay up until the listener drained.
        dependencies: dependencies,
        backgroundServices: registrations + [
            HeartbeatService(link: link, address: advertised),
            SessionDrainService(shuttingDown: shuttingDown),  // last: told first at shutdown
        ],
        readiness: { bound in
            let identity = try WorkerIdentity.resolve(
                configured: configuration.workerID,
                stateDirectory: configuration.resolvedStateDirectory)
            state.workerID = identity.id
            identified.set(identity.id)
            logger.info(
                "worker id", metadata: ["worker": "\(identity.id)", "from": "\(identity.source)"])
            let capabilities = state.measureCapabilities(
                memoryBudget: configuration.memoryBudgetBytes, threads: configuration.threads)
            logger.info(
                "measured",
                metadata: [
                    "gflops": "\(Int(capabilities.computeGflops))",
                    "memory_gbps": "\(Int(capabilities.memoryBandwidthGbps))",
                    "decode_gbps": "\((capabilities.decodeGbps * 10).rounded() / 10)",
                ])
            let address = configuration.advertisedAddress(boundPort: bound.grpc.port)
            try await link.registerUntilAccepted(address: address)
            advertised.set(address)
        })
}
