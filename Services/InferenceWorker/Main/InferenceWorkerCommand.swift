import ArgumentParser
import InferenceWorker
import ServiceKit

/// `inference-worker`: hosts model shards and runs the forward pass for its layer range.
@main
struct InferenceWorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inference-worker", abstract: "Tessera inference worker: hosts shards, runs layer ranges.")

    @Option(help: "Address to bind (env TESSERA_HOST).")
    var host = EnvironmentDefaults.host
    @Option(help: "gRPC port (env TESSERA_WORKER_PORT).")
    var port = EnvironmentDefaults.int("TESSERA_WORKER_PORT", 7410)
    @Option(help: "HTTP port for /metrics, /healthz, /readyz (env TESSERA_WORKER_HTTP_PORT).")
    var httpPort = EnvironmentDefaults.int("TESSERA_WORKER_HTTP_PORT", 9410)
    @Option(help: "Host name other services use to reach this worker; default: the bind host, or the machine's name when binding 0.0.0.0 (env TESSERA_ADVERTISE_HOST).")
    var advertiseHost = EnvironmentDefaults.string("TESSERA_ADVERTISE_HOST", "")
    @Option(help: "Scheduler address host:port (env TESSERA_SCHEDULER_ADDRESS).")
    var scheduler = ListenAddress(parsing: EnvironmentDefaults.string("TESSERA_SCHEDULER_ADDRESS", "127.0.0.1:7401"))!
    @Option(help: "Memory budget for shards and KV caches in MiB; 0 = half of physical memory (env TESSERA_WORKER_MEMORY_MB).")
    var memoryMb = EnvironmentDefaults.int("TESSERA_WORKER_MEMORY_MB", 0)
    @Option(help: "Compute threads; 0 = all cores (env TESSERA_WORKER_THREADS).")
    var threads = EnvironmentDefaults.int("TESSERA_WORKER_THREADS", 0)
    @Option(help: "Stable worker id across restarts; empty = assigned by the scheduler (env TESSERA_WORKER_ID).")
    var workerId = EnvironmentDefaults.string("TESSERA_WORKER_ID", "")
    @Option(help: "Directory for downloaded shards (env TESSERA_SHARD_DIR).")
    var shardDir = EnvironmentDefaults.string("TESSERA_SHARD_DIR", WorkerConfiguration().shardDirectory)
    @Option(help: "trace, debug, info, notice, warning, error or critical (env TESSERA_LOG_LEVEL).")
    var logLevel = EnvironmentDefaults.string("TESSERA_LOG_LEVEL", "info")

    func validate() throws {
        try OptionChecks.port(port, "--port")
        try OptionChecks.port(httpPort, "--http-port")
        guard memoryMb >= 0, threads >= 0 else { throw ValidationError("--memory-mb and --threads must not be negative") }
    }

    func run() async throws {
        var configuration = WorkerConfiguration()
        configuration.grpcAddress = ListenAddress(host: host, port: port)
        configuration.httpAddress = ListenAddress(host: host, port: httpPort)
        configuration.advertisedHost = advertiseHost
        configuration.schedulerAddress = scheduler
        if memoryMb > 0 { configuration.memoryBudgetBytes = UInt64(memoryMb) << 20 }
        if threads > 0 { configuration.threads = threads }
        configuration.workerID = workerId
        configuration.shardDirectory = shardDir
        await ServiceRunner.run(name: "inference-worker", logLevel: logLevel) { logger in
            try buildInferenceWorker(configuration, logger: logger)
        }
    }
}
