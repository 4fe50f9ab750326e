import Foundation
import ServiceKit

/// A worker as the scheduler knows it: where it listens (parsed once, at registration), what
/// it measured about itself, how busy it last said it was, and the shards it has loaded.
struct RegisteredWorker: Sendable, Hashable {
    var id: String
    var address: ListenAddress
    var capabilities = WorkerCapabilities()
    var load = WorkerLoad()
    var readyShards: [ShardReference] = []
    /// What its shard cache holds on disk and its budgets (nil: an older worker says nothing).
    var shardCache: ShardCacheReport?
    /// 0...1, from the verifier; a worker the verifier has not scored counts as trusted.
    var reputation = 1.0
    /// The verifier proved faults: the worker stays registered (it heartbeats, ListWorkers
    /// shows it) but gets no shards and is in no pipeline, as if it were dead.
    var quarantined = false
    var lastHeartbeat = Date()
    /// Which registration this is: the registry numbers them in order (over all ids), so a
    /// check that began under one registration can tell that the worker registered again.
    var registration: UInt64 = 0

    /// Sessions it serves at once: the latest count it reported (heartbeats and loaded shards
    /// after the registration); 0 = not limited (a worker that does not report one).
    var sessionSlots: Int {
        load.sessionSlots > 0 ? load.sessionSlots : capabilities.sessionSlots
    }
}
