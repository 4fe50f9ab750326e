import Foundation
import ServiceKit

public struct WorkerConfiguration: Sendable {
    public var grpcAddress = ListenAddress(host: "127.0.0.1", port: 7410)
    public var httpAddress: ListenAddress? = ListenAddress(host: "127.0.0.1", port: 9410)
    /// The host other services use to reach this worker. Empty: the bind host, or the
    /// machine's host name when binding 0.0.0.0 (containers: the compose service replica).
    public var advertisedHost = ""
    public var schedulerAddress = ListenAddress(host: "127.0.0.1", port: 7401)
    /// The verifier this worker registers its signing key with. nil: none (the worker still
    /// signs its commitments; nothing checks them against a registered key).
    public var verifierAddress: ListenAddress?
    /// The stake registered with the key (ledger units); the verifier's slashes come out of it.
    public var deposit: UInt64 = 1000
    /// Bytes this worker may use for shards and KV caches.
    public var memoryBudgetBytes: UInt64 = WorkerConfiguration.defaultMemoryBudget()
    /// Compute threads for the forward pass.
    public var threads = ProcessInfo.processInfo.activeProcessorCount
    /// Most sessions' decode steps one pass of a stage runs together (1: no batching).
    public var maxBatch = 32
    /// Most rows (decode tokens plus prompt chunks) in one pass: longer prompts are prefilled
    /// in chunks between the decode passes of the other sessions.
    public var batchTokens = 64
    /// Sessions served at once (KV slots; see `SessionSlots`). 0: derived from the memory left
    /// beside the shards at the served context length, at least 1, at most 64.
    public var maxSessions = 0
    /// The id to register with. Empty: the one kept in `stateDirectory` (generated there on the
    /// first start; see `WorkerIdentity`).
    public var workerID = ""
    /// The cache-managers this worker fetches shards from: a LoadShard naming another is
    /// refused, so whoever can send LoadShard cannot make the worker dial an address of
    /// their choosing. Empty: the address in the request (under mutual TLS only the
    /// scheduler may send LoadShard); `tessera up` and compose always set it.
    public var cacheManagerAddresses: [ListenAddress] = []
    /// Where the worker keeps state across restarts (its `worker-id` and `signing-key`). nil:
    /// the default below.
    public var stateDirectory: String?
    /// Bytes of shard files the worker keeps in `shardDirectory` (see `ShardDiskCache`).
    public var diskBudgetBytes: UInt64 = 4096 << 20
    /// Where downloaded shards are kept across restarts.
    public var shardDirectory = FileManager.default.temporaryDirectory.appendingPathComponent(
        "tessera-shards"
    ).path
    /// Largest hidden-state payload per message to the next stage; gRPC refuses messages over
    /// 4 MiB by default, so a long prefill (over ~1300 tokens of a 576-wide model) goes on in pieces.
    public var maxActivationMessageBytes = 3 << 20
    /// A session whose caller sends nothing for this long is ended and its KV cache freed
    /// (a caller that vanished without closing its connection would otherwise hold it).
    public var sessionIdleTimeout: Duration = .seconds(300)

    public init() {}

    /// Half of physical memory: the rest is left for the OS and other tenants of an edge box.
    public static func defaultMemoryBudget() -> UInt64 {
        ProcessInfo.processInfo.physicalMemory / 2
    }

    /// `stateDirectory`, else `~/.cache/tessera/worker-<port>`: one per port, so workers sharing
    /// a host never share an id, and never inside the shard directory, which replicas may share
    /// (compose mounts one volume for all of them). A worker on port 0 (tests) has no fixed
    /// identity to keep: nil, and its id lives as long as the process.
    var resolvedStateDirectory: String? {
        if let stateDirectory, !stateDirectory.isEmpty { return stateDirectory }
        guard grpcAddress.port != 0 else { return nil }
        // $HOME first, as for the model directory (Foundation on Linux reads only the passwd entry).
        let home = ProcessInfo.processInfo.environment["HOME"] ?? NSHomeDirectory()
        return "\(home)/.cache/tessera/worker-\(grpcAddress.port)"
    }

    func advertisedAddress(boundPort: Int) -> String {
        var host = advertisedHost
        if host.isEmpty {
            host =
                grpcAddress.host == "0.0.0.0" ? ProcessInfo.processInfo.hostName : grpcAddress.host
        }
        return "\(host):\(boundPort)"
    }
}
