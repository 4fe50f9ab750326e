import Foundation
import ServiceKit

public struct VerifierConfiguration: Sendable {
    public var grpcAddress = ListenAddress(host: "127.0.0.1", port: 7403)
    public var httpAddress: ListenAddress? = ListenAddress(host: "127.0.0.1", port: 9403)
    /// Where the verifier keeps its state (`verifier.sqlite`): pinned keys, receipts and
    /// verdicts, reputations and the ledger. A named volume in compose.
    public var stateDirectory = VerifierConfiguration.defaultStateDirectory
    /// The cache-manager the replayer fetches shards from.
    public var cacheManagerAddress = ListenAddress(host: "127.0.0.1", port: 7402)
    /// Compute threads for replays.
    public var threads = ProcessInfo.processInfo.activeProcessorCount
    /// Replay rate of receipts whose least trusted worker is new, and once all are trusted.
    public var newWorkerRate = 1.0
    public var trustedRate = 0.05
    /// Passed checks after which a worker is trusted.
    public var trustedAfter = 20
    /// A worker whose score falls below this is quarantined.
    public var quarantineBelow = 0.8
    /// How much one failed check weighs against passed ones in the score.
    public var faultWeight = 13.0
    /// Ledger units per passed stage check, and per proven fault.
    public var reward: Int64 = 1
    public var slash: Int64 = 100
    /// The gateway canaries go through; nil: no canaries.
    public var gatewayAddress: ListenAddress?
    /// The API key canaries present to the gateway, as any user's request would.
    public var gatewayAPIKey: String?
    /// Mean time between canaries; nil: none.
    public var canaryInterval: Duration?
    /// Seed of the replay selection; nil: a random one per start (tests fix it).
    public var selectionSeed: UInt64?
    public var maxBatchRecords = 256
    public var maxBatchBytes = 4 << 20

    public init() {}

    /// `~/.cache/tessera/verifier`, beside the cache-manager's store.
    public static var defaultStateDirectory: String {
        // $HOME first, as for the model directory (Foundation on Linux reads only the passwd entry).
        let home = ProcessInfo.processInfo.environment["HOME"] ?? NSHomeDirectory()
        return "\(home)/.cache/tessera/verifier"
    }

    var reputationPolicy: ReputationPolicy {
        ReputationPolicy(
            faultWeight: faultWeight, quarantineBelow: quarantineBelow, trustedAfter: trustedAfter,
            reward: reward, slash: slash)
    }

    var checkPolicy: CheckPolicy {
        CheckPolicy(
            newWorkerRate: newWorkerRate, trustedRate: trustedRate,
            seed: selectionSeed ?? UInt64.random(in: .min ... .max))
    }

    var intakeLimits: IntakeLimits {
        IntakeLimits(maxRecords: maxBatchRecords, maxBytes: maxBatchBytes)
    }
}
