import Foundation

/// What the gateway's generations did lately, kept in memory for the dashboard: per-second
/// throughput and the last requests. Both are bounded rings, filled by the generations
/// themselves (GenerationSession+Activity); reading them costs a copy under a lock.
final class GatewayActivity: Sendable {
    let throughput: ThroughputHistory
    let recent: RecentRequests

    init(
        throughput: ThroughputHistory = ThroughputHistory(),
        recent: RecentRequests = RecentRequests()
    ) {
        self.throughput = throughput
        self.recent = recent
    }
}

extension GatewayMetrics {
    /// The process's activity, global like the metrics it sits beside.
    static let activity = GatewayActivity()
}
