import ArgumentParser
import InferenceWorker
import ServiceKit

/// `inference-worker`: hosts model shards and runs the forward pass for its layer range.
@main
struct InferenceWorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inference-worker",
        abstract: "Tessera inference worker: hosts shards, runs layer ranges.")

    @OptionGroup var service: ServiceOptions<WorkerPorts>

    @Option(
        help:
            "Host name other services use to reach this worker; default: the bind host, or the machine's name when binding 0.0.0.0 (env TESSERA_ADVERTISE_HOST)."
    )
    var advertiseHost = EnvironmentDefaults.string("TESSERA_ADVERTISE_HOST", "")
    @Option(help: "Scheduler address host:port (env TESSERA_SCHEDULER_ADDRESS).")
    var scheduler = ListenAddress(
        parsing: EnvironmentDefaults.string("TESSERA_SCHEDULER_ADDRESS", "127.0.0.1:7401"))!
    @Option(
        help:
            "Memory budget for shards and KV caches in MiB; 0 = half of physical memory (env TESSERA_WORKER_MEMORY_MB)."
    )
    var memoryMb = EnvironmentDefaults.int("TESSERA_WORKER_MEMORY_MB", 0)
    @Option(help: "Compute threads; 0 = all cores (env TESSERA_WORKER_THREADS).")
    var threads = EnvironmentDefaults.int("TESSERA_WORKER_THREADS", 0)
    @Option(
        help:
            "Most sessions whose decode steps a stage runs as one pass; 1 = one at a time (env TESSERA_WORKER_MAX_BATCH)."
    )
    var maxBatch = EnvironmentDefaults.int("TESSERA_WORKER_MAX_BATCH", 32)
    @Option(
        help:
            "This worker's id; empty = the one kept in --state-dir, generated on the first start (env TESSERA_WORKER_ID)."
    )
    var workerId = EnvironmentDefaults.string("TESSERA_WORKER_ID", "")
    @Option(
        help:
            "Directory for state kept across restarts (the generated worker id); empty = ~/.cache/tessera/worker-<port> (env TESSERA_WORKER_STATE_DIR)."
    )
    var stateDir = EnvironmentDefaults.string("TESSERA_WORKER_STATE_DIR", "")
    @Option(help: "Directory for downloaded shards (env TESSERA_SHARD_DIR).")
    var shardDir = EnvironmentDefaults.string(
        "TESSERA_SHARD_DIR", WorkerConfiguration().shardDirectory)
    @Option(
        help:
            "End a session whose caller sent nothing for this many seconds, freeing its KV cache (env TESSERA_WORKER_SESSION_IDLE_S)."
    )
    var sessionIdleS = EnvironmentDefaults.int("TESSERA_WORKER_SESSION_IDLE_S", 300)

    func validate() throws {
        guard memoryMb >= 0, threads >= 0 else {
            throw ValidationError("--memory-mb and --threads must not be negative")
        }
        guard (1...128).contains(maxBatch) else {
            throw ValidationError("--max-batch must be from 1 to 128")
        }
        guard sessionIdleS > 0 else { throw ValidationError("--session-idle-s must be positive") }
    }

    func run() async throws {
        var configuration = WorkerConfiguration()
        configuration.grpcAddress = service.grpcAddress
        configuration.httpAddress = service.httpAddress
        configuration.advertisedHost = advertiseHost
        configuration.schedulerAddress = scheduler
        if memoryMb > 0 { configuration.memoryBudgetBytes = UInt64(memoryMb) << 20 }
        if threads > 0 { configuration.threads = threads }
        configuration.maxBatch = maxBatch
        configuration.workerID = workerId
        if !stateDir.isEmpty { configuration.stateDirectory = stateDir }
        configuration.shardDirectory = shardDir
        configuration.sessionIdleTimeout = .seconds(sessionIdleS)
        await ServiceRunner.run(name: "inference-worker", logLevel: service.logLevel) { logger in
            try buildInferenceWorker(configuration, logger: logger)
        }
    }
}

enum WorkerPorts: ServicePorts {
    static let grpc = (variable: "TESSERA_WORKER_PORT", port: 7410)
    static let http = (variable: "TESSERA_WORKER_HTTP_PORT", port: 9410)
}
