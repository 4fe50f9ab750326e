import Foundation

/// What the gateway is doing and did lately: its queue and generations now, per-second
/// throughput, and the last requests.
struct ActivityOverview: Sendable {
    /// Requests waiting in the admission queue for a session slot.
    var queued: Int
    /// The admission queue's --max-queued.
    var maxQueued: Int
    /// Generations running now.
    var activeGenerations: Int
    /// Requests waiting for a ready pipeline.
    var waitingForPipeline: Int
    var throughput: [ThroughputSample]
    var recentRequests: [CompletedRequest]
    var capturedAt: Date
}

extension ActivityOverview {
    /// The gateway's activity now; `seconds` of throughput history.
    init(activity: GatewayActivity, queue: AdmissionQueue, seconds: Int, now: Date = Date()) {
        self.init(
            queued: queue.count, maxQueued: queue.limits.maxQueued,
            activeGenerations: Int(GatewayMetrics.activeGenerations.value),
            waitingForPipeline: Int(GatewayMetrics.waitingForPipeline.value),
            throughput: activity.throughput.samples(count: seconds, now: now),
            recentRequests: activity.recent.all, capturedAt: now)
    }
}
