import ArgumentParser
import Gateway
import ServiceKit

/// `gateway`: the public API for apps (gRPC, and HTTP on the same process).
@main
struct GatewayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gateway", abstract: "Tessera gateway: the public gRPC and HTTP API.")

    @OptionGroup var service: ServiceOptions<GatewayPorts>

    @Option(help: "Scheduler address host:port (env TESSERA_SCHEDULER_ADDRESS).")
    var scheduler = ListenAddress(
        parsing: EnvironmentDefaults.string("TESSERA_SCHEDULER_ADDRESS", "127.0.0.1:7401"))!
    @Option(help: "Cache-manager address host:port (env TESSERA_CACHE_MANAGER_ADDRESS).")
    var cacheManager = ListenAddress(
        parsing: EnvironmentDefaults.string("TESSERA_CACHE_MANAGER_ADDRESS", "127.0.0.1:7402"))!
    @Option(
        help:
            "Verifier address host:port: receipts are shipped there to be checked; unset, they are only signed and returned (env TESSERA_VERIFIER_ADDRESS)."
    )
    var verifier = ListenAddress(
        parsing: EnvironmentDefaults.string("TESSERA_VERIFIER_ADDRESS", ""))
    @Option(
        help:
            "Milliseconds a request waits for a ready pipeline before UNAVAILABLE / 503 (env TESSERA_GATEWAY_PIPELINE_WAIT_MS)."
    )
    var pipelineWaitMs = EnvironmentDefaults.int("TESSERA_GATEWAY_PIPELINE_WAIT_MS", 30000)
    @Option(
        help:
            "Requests that may wait for a session slot while every slot is in use; one more is answered 429 / RESOURCE_EXHAUSTED; 0 = none waits (env TESSERA_GATEWAY_MAX_QUEUED)."
    )
    var maxQueued = EnvironmentDefaults.int("TESSERA_GATEWAY_MAX_QUEUED", 64)
    @Option(
        name: .customLong("max-queue-wait-s"),
        help:
            "Seconds a request waits for a session slot before 429 / RESOURCE_EXHAUSTED (env TESSERA_GATEWAY_MAX_QUEUE_WAIT_S)."
    )
    var maxQueueWaitS = EnvironmentDefaults.double("TESSERA_GATEWAY_MAX_QUEUE_WAIT_S", 30)
    @Flag(
        help:
            "Queue every request while slots are busy, even one whose predicted wait is longer than it may wait (by default it is refused at once with 429 / RESOURCE_EXHAUSTED)."
    )
    var noEarlyRefusal = false
    @Option(
        help: "max_tokens for requests that do not say (env TESSERA_GATEWAY_DEFAULT_MAX_TOKENS).")
    var defaultMaxTokens = EnvironmentDefaults.int("TESSERA_GATEWAY_DEFAULT_MAX_TOKENS", 256)
    @Option(
        help:
            "Most milliseconds a pipeline may take for one step before it counts as stalled (env TESSERA_GATEWAY_STEP_TIMEOUT_MS)."
    )
    var stepTimeoutMs = EnvironmentDefaults.int("TESSERA_GATEWAY_STEP_TIMEOUT_MS", 60000)
    @Option(
        help:
            "A step counts as stalled after this many times its expected time (env TESSERA_GATEWAY_STALL_MULTIPLIER)."
    )
    var stallMultiplier = EnvironmentDefaults.double("TESSERA_GATEWAY_STALL_MULTIPLIER", 5)
    @Option(
        help:
            "…but never before this many milliseconds (env TESSERA_GATEWAY_STALL_FLOOR_MS)."
    )
    var stallFloorMs = EnvironmentDefaults.int("TESSERA_GATEWAY_STALL_FLOOR_MS", 2000)
    @Option(
        help:
            "How a pipeline of several stages answers decode steps: direct (the last stage answers the gateway, S + 1 messages per token) or relayed (back up through every stage, 2S) (env TESSERA_GATEWAY_ANSWERS)."
    )
    var answers = EnvironmentDefaults.string("TESSERA_GATEWAY_ANSWERS", "direct")
    @Option(
        help:
            "Most HTTP connections open at once; one more is answered 503 and closed (env TESSERA_HTTP_MAX_CONNECTIONS)."
    )
    var httpMaxConnections = HTTPEndpoint.maxConnections
    @Option(
        help:
            "HTTP port for /metrics, /healthz and /readyz, open without a key (env TESSERA_GATEWAY_OPS_PORT)."
    )
    var opsPort = EnvironmentDefaults.int("TESSERA_GATEWAY_OPS_PORT", 9400)
    @Option(
        help:
            "The API key store (`tessera keys --keys-db` writes it); every request needs a key from it (env TESSERA_GATEWAY_KEYS_DB)."
    )
    var keysDb = EnvironmentDefaults.string("TESSERA_GATEWAY_KEYS_DB", "")
    @Flag(
        help:
            "Serve the API without keys: anyone who reaches the port may use it. For development only."
    )
    var noAuth = false

    func validate() throws {
        guard pipelineWaitMs > 0 else {
            throw ValidationError("--pipeline-wait-ms must be positive")
        }
        guard stepTimeoutMs > 0 else { throw ValidationError("--step-timeout-ms must be positive") }
        guard maxQueued >= 0, maxQueueWaitS > 0 else {
            throw ValidationError(
                "--max-queued must not be negative and --max-queue-wait-s must be positive")
        }
        guard stallMultiplier >= 1, stallFloorMs > 0 else {
            throw ValidationError(
                "--stall-multiplier must be at least 1 and --stall-floor-ms positive")
        }
        guard ["direct", "relayed"].contains(answers) else {
            throw ValidationError("--answers must be direct or relayed, not '\(answers)'")
        }
        guard httpMaxConnections > 0 else {
            throw ValidationError("--http-max-connections must be positive")
        }
        try OptionChecks.port(opsPort, "--ops-port")
        guard noAuth || !keysDb.isEmpty else {
            throw ValidationError(
                "the gateway requires API keys: give it their store with --keys-db PATH (or env TESSERA_GATEWAY_KEYS_DB; `tessera keys create NAME --keys-db PATH` makes one), or run it with --no-auth for development"
            )
        }
        guard defaultMaxTokens > 0 else {
            throw ValidationError("--default-max-tokens must be positive")
        }
    }

    func run() async throws {
        var configuration = GatewayConfiguration()
        configuration.grpcAddress = service.grpcAddress
        configuration.httpAddress = service.httpAddress
        configuration.opsAddress = ListenAddress(host: service.host, port: opsPort)
        configuration.apiKeys = noAuth ? .open : .store(path: keysDb)
        configuration.httpMaxConnections = httpMaxConnections
        configuration.schedulerAddress = scheduler
        configuration.cacheManagerAddress = cacheManager
        configuration.verifierAddress = verifier
        configuration.pipelineWaitLimit = .milliseconds(pipelineWaitMs)
        configuration.maxQueued = maxQueued
        configuration.maxQueueWait = .milliseconds(Int(maxQueueWaitS * 1000))
        configuration.refuseByPredictedWait = !noEarlyRefusal
        configuration.defaultMaxTokens = defaultMaxTokens
        configuration.stepTimeout = .milliseconds(stepTimeoutMs)
        configuration.stallMultiplier = stallMultiplier
        configuration.stallFloor = .milliseconds(stallFloorMs)
        configuration.directAnswers = answers == "direct"
        await ServiceRunner.run(
            name: "gateway", logLevel: service.logLevel, security: service.security,
            certificateName: "gateway", tracing: service.tracing
        ) { logger in
            if noAuth {
                logger.warning(
                    "--no-auth: the API takes requests without a key from anyone who can reach it")
            }
            return try buildGateway(configuration, logger: logger)
        }
    }
}

enum GatewayPorts: ServicePorts {
    static let grpc = (variable: "TESSERA_GATEWAY_PORT", port: 7400)
    static let http = (variable: "TESSERA_GATEWAY_HTTP_PORT", port: 8080)
    static var httpPurpose: String { "the app API (OpenAI-compatible; needs a key)" }
}
