import ArgumentParser
import Scheduler
import ServiceKit

/// `scheduler`: knows every worker, places model shards and routes requests.
@main
struct SchedulerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scheduler",
        abstract: "Tessera scheduler: worker registry, placement and routing.")

    @OptionGroup var service: ServiceOptions<SchedulerPorts>

    @Option(
        help: "Heartbeat interval asked of workers, in milliseconds (env TESSERA_HEARTBEAT_MS).")
    var heartbeatMs = EnvironmentDefaults.int("TESSERA_HEARTBEAT_MS", 2000)
    @Option(
        help:
            "Drop a worker after this long without a heartbeat, in milliseconds (env TESSERA_WORKER_EXPIRY_MS)."
    )
    var workerExpiryMs = EnvironmentDefaults.int("TESSERA_WORKER_EXPIRY_MS", 6000)
    @Option(help: "Cache-manager address host:port (env TESSERA_CACHE_MANAGER_ADDRESS).")
    var cacheManager = ListenAddress(
        parsing: EnvironmentDefaults.string("TESSERA_CACHE_MANAGER_ADDRESS", "127.0.0.1:7402"))!
    @Option(help: "Model to place and serve, by name or SHA-256 (env TESSERA_MODEL).")
    var model = EnvironmentDefaults.string("TESSERA_MODEL", "smollm2-135m")
    @Option(
        help: "Context tokens per session to reserve KV memory for (env TESSERA_CONTEXT_LENGTH).")
    var contextLength = EnvironmentDefaults.int("TESSERA_CONTEXT_LENGTH", 2048)
    @Option(help: "Sessions per worker to reserve KV memory for (env TESSERA_SESSIONS_PER_WORKER).")
    var sessionsPerWorker = EnvironmentDefaults.int("TESSERA_SESSIONS_PER_WORKER", 2)
    @Option(
        help:
            "Latency between workers in milliseconds, for placement (env TESSERA_LINK_LATENCY_MS).")
    var linkLatencyMs = EnvironmentDefaults.double("TESSERA_LINK_LATENCY_MS", 0.5)
    @Option(
        help: "Bandwidth between workers in MB/s, for placement (env TESSERA_LINK_BANDWIDTH_MBPS).")
    var linkBandwidthMbps = EnvironmentDefaults.double("TESSERA_LINK_BANDWIDTH_MBPS", 500)

    @Option(
        help:
            "Release a lease its holder has not renewed for this long, in milliseconds (env TESSERA_LEASE_TTL_MS)."
    )
    var leaseTtlMs = EnvironmentDefaults.int("TESSERA_LEASE_TTL_MS", 30000)

    @Option(
        help:
            "Verifier address host:port, whose quarantined workers get no shards; none: every worker counts as trusted (env TESSERA_VERIFIER_ADDRESS)."
    )
    var verifier: ListenAddress?
    @Option(
        help:
            "How often to read the verifier's reputations, in milliseconds (env TESSERA_REPUTATION_POLL_MS)."
    )
    var reputationPollMs = EnvironmentDefaults.int("TESSERA_REPUTATION_POLL_MS", 2000)

    @Option(
        help:
            "Port (on --host) where new machines exchange a join token for a worker certificate; needs the CA key in --tls-dir; none: no enrollment (env TESSERA_ENROLLMENT_PORT)."
    )
    var enrollmentPort: Int?

    @Option(
        help:
            "Evict an unpinned model nobody used for this long, in seconds; a model's own --idle-timeout-s (tessera model serve) wins (env TESSERA_IDLE_TIMEOUT_S)."
    )
    var idleTimeoutS = EnvironmentDefaults.int("TESSERA_IDLE_TIMEOUT_S", 600)
    @Option(
        help:
            "Give up a cold start not ready after this long, in seconds (env TESSERA_COLD_START_TIMEOUT_S)."
    )
    var coldStartTimeoutS = EnvironmentDefaults.int("TESSERA_COLD_START_TIMEOUT_S", 60)
    @Option(
        help:
            "Period of the slow loop (demand forecast, replicas per model, pre-staging shards), in seconds (env TESSERA_CACHE_INTERVAL_S)."
    )
    var cacheIntervalS = EnvironmentDefaults.int("TESSERA_CACHE_INTERVAL_S", 120)
    @Option(
        help:
            "Keep a model that became warm at least this long before evicting it for another, in seconds (env TESSERA_KEEP_ALIVE_S)."
    )
    var keepAliveS = EnvironmentDefaults.int("TESSERA_KEEP_ALIVE_S", 10)
    @Option(
        help:
            "Most pipelines per model; with several models planned, each gets its replicas decided by demand within this (env TESSERA_MAX_PIPELINES)."
    )
    var maxPipelines = EnvironmentDefaults.int("TESSERA_MAX_PIPELINES", 16)
    @Option(
        help:
            "Plan a replica only while its predicted time per token is within this factor of the primary pipeline's, at least 1 (env TESSERA_REPLICA_LATENCY_FACTOR)."
    )
    var replicaLatencyFactor = EnvironmentDefaults.double("TESSERA_REPLICA_LATENCY_FACTOR", 2)

    /// The flag, else the environment.
    var enrollmentListenPort: Int? {
        enrollmentPort ?? Int(EnvironmentDefaults.string("TESSERA_ENROLLMENT_PORT", ""))
    }

    /// The flag, else the environment (an optional option cannot take its default from it).
    var verifierAddress: ListenAddress? {
        verifier ?? ListenAddress(parsing: Self.verifierEnvironment)
    }
    static var verifierEnvironment: String {
        EnvironmentDefaults.string("TESSERA_VERIFIER_ADDRESS", "")
    }

    func validate() throws {
        if verifier == nil, !Self.verifierEnvironment.isEmpty, verifierAddress == nil {
            throw ValidationError(
                "TESSERA_VERIFIER_ADDRESS must be host:port, got '\(Self.verifierEnvironment)'")
        }
        guard reputationPollMs >= 100 else {
            throw ValidationError("--reputation-poll-ms must be at least 100")
        }
        guard leaseTtlMs >= 1000 else {
            throw ValidationError("--lease-ttl-ms must be at least 1000")
        }
        guard heartbeatMs > 0, workerExpiryMs > heartbeatMs else {
            throw ValidationError(
                "--worker-expiry-ms must be greater than --heartbeat-ms, and both positive")
        }
        guard idleTimeoutS > 0, coldStartTimeoutS > 0, cacheIntervalS > 0, keepAliveS >= 0,
            maxPipelines > 0, replicaLatencyFactor >= 1
        else {
            throw ValidationError(
                "--idle-timeout-s, --cold-start-timeout-s, --cache-interval-s and --max-pipelines must be positive, --replica-latency-factor at least 1, --keep-alive-s not negative"
            )
        }
        guard contextLength > 0, sessionsPerWorker > 0, linkLatencyMs >= 0, linkBandwidthMbps > 0
        else {
            throw ValidationError(
                "--context-length, --sessions-per-worker and --link-bandwidth-mbps must be positive"
            )
        }
    }

    func run() async throws {
        var configuration = SchedulerConfiguration()
        configuration.grpcAddress = service.grpcAddress
        configuration.httpAddress = service.httpAddress
        configuration.heartbeatInterval = .milliseconds(heartbeatMs)
        configuration.workerExpiry = .milliseconds(workerExpiryMs)
        configuration.cacheManagerAddress = cacheManager
        configuration.model = model
        configuration.contextLength = contextLength
        configuration.sessionsPerWorker = sessionsPerWorker
        configuration.linkLatencySeconds = linkLatencyMs / 1000
        configuration.linkBytesPerSecond = linkBandwidthMbps * 1_000_000
        configuration.leaseTTL = .milliseconds(leaseTtlMs)
        configuration.verifierAddress = verifierAddress
        configuration.reputationPollInterval = .milliseconds(reputationPollMs)
        configuration.idleTimeout = .seconds(idleTimeoutS)
        configuration.coldStartTimeout = .seconds(coldStartTimeoutS)
        configuration.cacheInterval = .seconds(cacheIntervalS)
        configuration.minimumKeepAlive = .seconds(keepAliveS)
        configuration.maxPipelines = maxPipelines
        configuration.replicaLatencyFactor = replicaLatencyFactor
        if let enrollmentPort = enrollmentListenPort {
            configuration.enrollment = EnrollmentSettings(
                address: ListenAddress(host: service.grpcAddress.host, port: enrollmentPort),
                certificateDirectory: service.security.tlsDir)
        }
        await ServiceRunner.run(
            name: "scheduler", logLevel: service.logLevel, security: service.security,
            certificateName: "scheduler", tracing: service.tracing
        ) { logger in
            try buildScheduler(configuration, logger: logger)
        }
    }
}

enum SchedulerPorts: ServicePorts {
    static let grpc = (variable: "TESSERA_SCHEDULER_PORT", port: 7401)
    static let http = (variable: "TESSERA_SCHEDULER_HTTP_PORT", port: 9401)
}
