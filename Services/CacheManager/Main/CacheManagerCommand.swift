import ArgumentParser
import CacheManager
import ServiceKit

/// `cache-manager`: the model store (import, shard, ship).
@main
struct CacheManagerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cache-manager", abstract: "Tessera cache-manager: model store, shards and shard delivery.")

    @Option(help: "Address to bind (env TESSERA_HOST).")
    var host = EnvironmentDefaults.host
    @Option(help: "gRPC port (env TESSERA_CACHE_MANAGER_PORT).")
    var port = EnvironmentDefaults.int("TESSERA_CACHE_MANAGER_PORT", 7402)
    @Option(help: "HTTP port for /metrics, /healthz, /readyz (env TESSERA_CACHE_MANAGER_HTTP_PORT).")
    var httpPort = EnvironmentDefaults.int("TESSERA_CACHE_MANAGER_HTTP_PORT", 9402)
    @Option(help: "Model store directory (env TESSERA_STORE_DIR).")
    var storeDir = EnvironmentDefaults.string("TESSERA_STORE_DIR", CacheManagerConfiguration().storeDirectory)
    @Option(
        help: ArgumentHelp(
            "Models to import at start-up, before reporting SERVING: comma-separated known names or paths (env TESSERA_PRELOAD_MODELS).",
            valueName: "models"))
    var preload = EnvironmentDefaults.string("TESSERA_PRELOAD_MODELS", "")
    @Option(help: "trace, debug, info, notice, warning, error or critical (env TESSERA_LOG_LEVEL).")
    var logLevel = EnvironmentDefaults.string("TESSERA_LOG_LEVEL", "info")

    func validate() throws {
        try OptionChecks.port(port, "--port")
        try OptionChecks.port(httpPort, "--http-port")
    }

    func run() async throws {
        var configuration = CacheManagerConfiguration()
        configuration.grpcAddress = ListenAddress(host: host, port: port)
        configuration.httpAddress = ListenAddress(host: host, port: httpPort)
        configuration.storeDirectory = storeDir
        configuration.preloadModels = CacheManagerConfiguration.parsePreloadList(preload)
        await ServiceRunner.run(name: "cache-manager", logLevel: logLevel) { logger in
            buildCacheManager(configuration, logger: logger)
        }
    }
}
