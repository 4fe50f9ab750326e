import ArgumentParser
import Foundation
import ServiceKit

/// The worker's flags, each with its environment twin: `inference-worker` takes them, and so
/// does the test-only `tessera-faulty-worker` (the same worker with faults injected).
public struct WorkerOptions: ParsableArguments {
    @OptionGroup public var service: ServiceOptions<WorkerPorts>

    @Option(
        help:
            "Host name other services use to reach this worker; default: the bind host, or the machine's name when binding 0.0.0.0 (env TESSERA_ADVERTISE_HOST)."
    )
    public var advertiseHost = EnvironmentDefaults.string("TESSERA_ADVERTISE_HOST", "")
    @Option(help: "Scheduler address host:port (env TESSERA_SCHEDULER_ADDRESS).")
    public var scheduler = ListenAddress(
        parsing: EnvironmentDefaults.string("TESSERA_SCHEDULER_ADDRESS", "127.0.0.1:7401"))!
    @Option(
        help:
            "Verifier address host:port, to register this worker's signing key and deposit with; none: the key is not registered (env TESSERA_VERIFIER_ADDRESS)."
    )
    public var verifier: ListenAddress?
    @Option(
        help:
            "Deposit registered with the signing key at the verifier, in ledger units (env TESSERA_WORKER_DEPOSIT)."
    )
    public var deposit = EnvironmentDefaults.int("TESSERA_WORKER_DEPOSIT", 1000)
    @Option(
        help:
            "Memory budget for shards and KV caches in MiB; 0 = half of physical memory (env TESSERA_WORKER_MEMORY_MB)."
    )
    public var memoryMb = EnvironmentDefaults.int("TESSERA_WORKER_MEMORY_MB", 0)
    @Option(
        help:
            "Disk budget for cached shard files in MiB; before a download, shards neither loaded nor in use are evicted to stay within it (env TESSERA_WORKER_DISK_BUDGET_MB)."
    )
    public var diskBudgetMb = EnvironmentDefaults.int("TESSERA_WORKER_DISK_BUDGET_MB", 4096)
    @Option(help: "Compute threads; 0 = all cores (env TESSERA_WORKER_THREADS).")
    public var threads = EnvironmentDefaults.int("TESSERA_WORKER_THREADS", 0)
    @Option(
        help:
            "Most sessions whose decode steps a stage runs as one pass; 1 = one at a time (env TESSERA_WORKER_MAX_BATCH)."
    )
    public var maxBatch = EnvironmentDefaults.int("TESSERA_WORKER_MAX_BATCH", 32)
    @Option(
        help:
            "Most tokens one pass of a stage computes: decode tokens first, then chunks of waiting prompts, so a long prompt never stalls the streams decoding; 16 to 128 (env TESSERA_WORKER_BATCH_TOKENS)."
    )
    public var batchTokens = EnvironmentDefaults.int("TESSERA_WORKER_BATCH_TOKENS", 64)
    @Option(
        help:
            "Sessions served at once (KV slots); more wait in the gateway's queue. 0 = as many KV caches at the served context length as fit in the memory left beside the shards, 1 to 64 (env TESSERA_WORKER_MAX_SESSIONS)."
    )
    public var maxSessions = EnvironmentDefaults.int("TESSERA_WORKER_MAX_SESSIONS", 0)
    @Option(
        help:
            "This worker's id; empty = the one kept in --state-dir, generated on the first start (env TESSERA_WORKER_ID)."
    )
    public var workerId = EnvironmentDefaults.string("TESSERA_WORKER_ID", "")
    @Option(
        help:
            "Directory for state kept across restarts (the generated worker id, the signing key); empty = ~/.cache/tessera/worker-<port> (env TESSERA_WORKER_STATE_DIR)."
    )
    public var stateDir = EnvironmentDefaults.string("TESSERA_WORKER_STATE_DIR", "")
    @Option(
        help:
            "Directory for downloaded shards; {host} is replaced by the host name, so replicas that share a volume keep separate caches (env TESSERA_SHARD_DIR)."
    )
    public var shardDir = EnvironmentDefaults.string(
        "TESSERA_SHARD_DIR", WorkerConfiguration().shardDirectory)
    @Option(
        help:
            "End a session whose caller sent nothing for this many seconds, freeing its KV cache (env TESSERA_WORKER_SESSION_IDLE_S)."
    )
    public var sessionIdleS = EnvironmentDefaults.int("TESSERA_WORKER_SESSION_IDLE_S", 300)

    @Option(
        help:
            "A one-time token from `tessera certs join-token`: at start, exchange it at --enroll-address for a worker certificate kept in --tls-dir (env TESSERA_JOIN_TOKEN)."
    )
    public var joinToken = EnvironmentDefaults.string("TESSERA_JOIN_TOKEN", "")
    @Option(
        name: .customLong("enroll-address"),
        help:
            "The scheduler's enrollment address host:port, for --join-token (env TESSERA_ENROLL_ADDRESS)."
    )
    public var enroll: ListenAddress?
    @Option(
        name: .customLong("san"),
        help: ArgumentHelp(
            "A DNS name or IP address peers reach this worker at, asked for in the certificate that --join-token enrolls, besides --advertise-host, the bind host and the host name (repeatable; env TESSERA_WORKER_SANS, comma-separated).",
            valueName: "name"))
    public var san: [String] = EnvironmentDefaults.string("TESSERA_WORKER_SANS", "")
        .split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }

    /// The flag, else the environment (an optional option cannot take its default from it).
    var enrollAddress: ListenAddress? {
        enroll ?? ListenAddress(parsing: EnvironmentDefaults.string("TESSERA_ENROLL_ADDRESS", ""))
    }

    public init() {}

    /// The flag, else the environment (an optional option cannot take its default from it).
    var verifierAddress: ListenAddress? {
        verifier ?? ListenAddress(parsing: Self.verifierEnvironment)
    }
    static var verifierEnvironment: String {
        EnvironmentDefaults.string("TESSERA_VERIFIER_ADDRESS", "")
    }

    public func validate() throws {
        guard diskBudgetMb > 0 else {
            throw ValidationError("--disk-budget-mb must be positive")
        }
        guard memoryMb >= 0, threads >= 0 else {
            throw ValidationError("--memory-mb and --threads must not be negative")
        }
        guard (1...128).contains(maxBatch) else {
            throw ValidationError("--max-batch must be from 1 to 128")
        }
        guard (BatchLimits.minimumChunk...128).contains(batchTokens) else {
            throw ValidationError("--batch-tokens must be from \(BatchLimits.minimumChunk) to 128")
        }
        guard (0...4096).contains(maxSessions) else {
            throw ValidationError("--max-sessions must be from 0 (derived from memory) to 4096")
        }
        guard sessionIdleS > 0 else { throw ValidationError("--session-idle-s must be positive") }
        guard deposit >= 0 else { throw ValidationError("--deposit must not be negative") }
        if verifier == nil, !Self.verifierEnvironment.isEmpty, verifierAddress == nil {
            throw ValidationError(
                "TESSERA_VERIFIER_ADDRESS must be host:port, got '\(Self.verifierEnvironment)'")
        }
    }

    @Option(
        name: .customLong("cache-manager"),
        help: ArgumentHelp(
            "A cache-manager host:port this worker may fetch shards from; repeatable; LoadShard naming another is refused (env TESSERA_CACHE_MANAGER_ADDRESS, comma-separated).",
            valueName: "address"))
    public var cacheManagers: [ListenAddress] = []

    /// The flags, else the environment.
    var cacheManagerAddresses: [ListenAddress] {
        if !cacheManagers.isEmpty { return cacheManagers }
        return EnvironmentDefaults.string("TESSERA_CACHE_MANAGER_ADDRESS", "")
            .split(separator: ",").compactMap { ListenAddress(parsing: String($0)) }
    }

    public var configuration: WorkerConfiguration {
        var configuration = WorkerConfiguration()
        configuration.cacheManagerAddresses = cacheManagerAddresses
        configuration.grpcAddress = service.grpcAddress
        configuration.httpAddress = service.httpAddress
        configuration.advertisedHost = advertiseHost
        configuration.schedulerAddress = scheduler
        configuration.verifierAddress = verifierAddress
        configuration.deposit = UInt64(max(0, deposit))
        if memoryMb > 0 { configuration.memoryBudgetBytes = UInt64(memoryMb) << 20 }
        configuration.diskBudgetBytes = UInt64(diskBudgetMb) << 20
        if threads > 0 { configuration.threads = threads }
        configuration.maxBatch = maxBatch
        configuration.batchTokens = batchTokens
        configuration.maxSessions = maxSessions
        configuration.workerID = workerId
        if !stateDir.isEmpty { configuration.stateDirectory = stateDir }
        // Each worker budgets and evicts its own shard files (ShardDiskCache): replicas that
        // mount one volume (compose's --scale) must not share a folder, but a restarted
        // container keeps its host name and so finds its shards again.
        configuration.shardDirectory = shardDir.replacingOccurrences(
            of: "{host}", with: ProcessInfo.processInfo.hostName)
        configuration.sessionIdleTimeout = .seconds(sessionIdleS)
        return configuration
    }
}

public enum WorkerPorts: ServicePorts {
    public static let grpc = (variable: "TESSERA_WORKER_PORT", port: 7410)
    public static let http = (variable: "TESSERA_WORKER_HTTP_PORT", port: 9410)
}
