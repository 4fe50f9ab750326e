import ArgumentParser
import Gateway
import ServiceKit

/// `gateway`: the public API for apps (gRPC, and HTTP on the same process).
@main
struct GatewayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gateway", abstract: "Tessera gateway: the public gRPC and HTTP API.")

    @Option(help: "Address to bind (env TESSERA_HOST).")
    var host = EnvironmentDefaults.host
    @Option(help: "gRPC port (env TESSERA_GATEWAY_PORT).")
    var port = EnvironmentDefaults.int("TESSERA_GATEWAY_PORT", 7400)
    @Option(help: "HTTP port for the app API and /metrics (env TESSERA_GATEWAY_HTTP_PORT).")
    var httpPort = EnvironmentDefaults.int("TESSERA_GATEWAY_HTTP_PORT", 8080)
    @Option(help: "Scheduler address host:port (env TESSERA_SCHEDULER_ADDRESS).")
    var scheduler = ListenAddress(parsing: EnvironmentDefaults.string("TESSERA_SCHEDULER_ADDRESS", "127.0.0.1:7401"))!
    @Option(help: "Cache-manager address host:port (env TESSERA_CACHE_MANAGER_ADDRESS).")
    var cacheManager = ListenAddress(parsing: EnvironmentDefaults.string("TESSERA_CACHE_MANAGER_ADDRESS", "127.0.0.1:7402"))!
    @Option(help: "Milliseconds a request waits for a ready pipeline before UNAVAILABLE / 503 (env TESSERA_GATEWAY_PIPELINE_WAIT_MS).")
    var pipelineWaitMs = EnvironmentDefaults.int("TESSERA_GATEWAY_PIPELINE_WAIT_MS", 30000)
    @Option(help: "max_tokens for requests that do not say (env TESSERA_GATEWAY_DEFAULT_MAX_TOKENS).")
    var defaultMaxTokens = EnvironmentDefaults.int("TESSERA_GATEWAY_DEFAULT_MAX_TOKENS", 256)
    @Option(help: "Milliseconds a pipeline may take for one step before it counts as failed (env TESSERA_GATEWAY_STEP_TIMEOUT_MS).")
    var stepTimeoutMs = EnvironmentDefaults.int("TESSERA_GATEWAY_STEP_TIMEOUT_MS", 60000)
    @Option(help: "trace, debug, info, notice, warning, error or critical (env TESSERA_LOG_LEVEL).")
    var logLevel = EnvironmentDefaults.string("TESSERA_LOG_LEVEL", "info")

    func validate() throws {
        try OptionChecks.port(port, "--port")
        try OptionChecks.port(httpPort, "--http-port")
        guard pipelineWaitMs > 0 else { throw ValidationError("--pipeline-wait-ms must be positive") }
        guard stepTimeoutMs > 0 else { throw ValidationError("--step-timeout-ms must be positive") }
        guard defaultMaxTokens > 0 else { throw ValidationError("--default-max-tokens must be positive") }
    }

    func run() async throws {
        var configuration = GatewayConfiguration()
        configuration.grpcAddress = ListenAddress(host: host, port: port)
        configuration.httpAddress = ListenAddress(host: host, port: httpPort)
        configuration.schedulerAddress = scheduler
        configuration.cacheManagerAddress = cacheManager
        configuration.pipelineWaitLimit = .milliseconds(pipelineWaitMs)
        configuration.defaultMaxTokens = defaultMaxTokens
        configuration.stepTimeout = .milliseconds(stepTimeoutMs)
        await ServiceRunner.run(name: "gateway", logLevel: logLevel) { logger in
            try buildGateway(configuration, logger: logger)
        }
    }
}
