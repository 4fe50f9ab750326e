import ArgumentParser
import CacheManager
import ServiceKit

/// `cache-manager`: the model store (import, shard, ship).
@main
struct CacheManagerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cache-manager",
        abstract: "Tessera cache-manager: model store, shards and shard delivery.")

    @OptionGroup var service: ServiceOptions<CacheManagerPorts>

    @Option(help: "Model store directory (env TESSERA_STORE_DIR).")
    var storeDir = EnvironmentDefaults.string(
        "TESSERA_STORE_DIR", CacheManagerConfiguration().storeDirectory)
    @Option(
        help: ArgumentHelp(
            "Models to import at start-up, before reporting SERVING: comma-separated known names or paths (env TESSERA_PRELOAD_MODELS).",
            valueName: "models"))
    var preload = EnvironmentDefaults.string("TESSERA_PRELOAD_MODELS", "")
    @Option(
        name: .customLong("import-dir"),
        help: ArgumentHelp(
            "A directory ImportModel may read model paths from; repeatable (env TESSERA_IMPORT_DIRS, ':'-separated; default: the model directory, $TESSERA_MODEL_DIR or ~/.cache/tessera/models).",
            valueName: "dir"))
    var importDirs: [String] = []

    /// The flags, else the environment, else the model directory.
    var importDirectories: [String] {
        if !importDirs.isEmpty { return importDirs }
        let configured = EnvironmentDefaults.string("TESSERA_IMPORT_DIRS", "")
        if !configured.isEmpty { return configured.split(separator: ":").map(String.init) }
        return ImportConfinement.defaultDirectories
    }

    func run() async throws {
        var configuration = CacheManagerConfiguration()
        configuration.grpcAddress = service.grpcAddress
        configuration.httpAddress = service.httpAddress
        configuration.storeDirectory = storeDir
        configuration.preloadModels = CacheManagerConfiguration.parsePreloadList(preload)
        configuration.importConfinement = ImportConfinement(directories: importDirectories)
        await ServiceRunner.run(
            name: "cache-manager", logLevel: service.logLevel, security: service.security,
            certificateName: "cache-manager", tracing: service.tracing
        ) { logger in
            buildCacheManager(configuration, logger: logger)
        }
    }
}

enum CacheManagerPorts: ServicePorts {
    static let grpc = (variable: "TESSERA_CACHE_MANAGER_PORT", port: 7402)
    static let http = (variable: "TESSERA_CACHE_MANAGER_HTTP_PORT", port: 9402)
}
