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
    /// 0...1, from the verifier; a newly registered worker starts trusted.
    var reputation = 1.0
    var lastHeartbeat = Date()
}

/// What a worker measured at start-up.
struct WorkerCapabilities: Sendable, Hashable {
    /// Budget for shards and KV caches.
    var memoryBytes: UInt64 = 0
    var cpuCount = 0
    var computeGflops = 0.0
    var memoryBandwidthGbps = 0.0
    var version = ""
    /// Weight bytes per second (in GB/s) its decode kernel consumes; 0 when not measured.
    var decodeGbps = 0.0
}

/// How busy a worker is, as its last heartbeat said, with the timings it observed since the
/// heartbeat before.
struct WorkerLoad: Sendable, Hashable {
    var activeSessions = 0
    var memoryUsedBytes: UInt64 = 0
    /// 0...1 over the last interval.
    var cpuUtilization = 0.0
    var recentSteps: [StepTiming] = []
    var recentLinks: [LinkTiming] = []
}

/// One forward step a worker ran: its layers, tokens, time and the weight bytes it read.
struct StepTiming: Sendable, Hashable {
    var layers: Range<Int>?
    var tokens = 0
    var seconds = 0.0
    var weightBytes: UInt64 = 0
}

/// One hop from a worker to the next stage: the round trip less what the next stages did.
struct LinkTiming: Sendable, Hashable {
    var toWorkerID: String
    var roundTripSeconds: Double
    /// The request message's size.
    var bytes: UInt64 = 0
}
