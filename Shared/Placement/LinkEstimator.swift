/// Measured link costs between workers, from the hops they time.
///
/// Workers report each decode step's hop to the next stage as a round trip with the next
/// stages' own work taken out. One message size per pair cannot separate latency from
/// bandwidth, so the estimate keeps the configured bandwidth and measures the rest: the
/// pair's latency is half the median round trip minus the transfer time at that bandwidth.
/// Median over the last `window` hops after `minimumSamples`, like `SpeedEstimator`.
public struct LinkEstimator: Sendable {
    public var window: Int
    public var minimumSamples: Int
    private var roundTrips: [String: [String: [Double]]] = [:]
    private var bytes: [String: [String: Double]] = [:]

    public init(window: Int = 32, minimumSamples: Int = 8) {
        self.window = max(1, window)
        self.minimumSamples = max(1, min(minimumSamples, self.window))
    }

    public mutating func observe(
        from a: String, to b: String, roundTripSeconds: Double, bytes size: Int
    ) {
        guard roundTripSeconds >= 0, roundTripSeconds.isFinite, !a.isEmpty, !b.isEmpty else {
            return
        }
        var samples = roundTrips[a]?[b] ?? []
        samples.append(roundTripSeconds)
        if samples.count > window { samples.removeFirst(samples.count - window) }
        roundTrips[a, default: [:]][b] = samples
        bytes[a, default: [:]][b] = Double(size)
    }

    /// Forgets pairs that involve workers no longer present.
    public mutating func keep(only workers: Set<String>) {
        roundTrips = roundTrips.filter { workers.contains($0.key) }.mapValues {
            $0.filter { workers.contains($0.key) }
        }
        bytes = bytes.filter { workers.contains($0.key) }.mapValues {
            $0.filter { workers.contains($0.key) }
        }
    }

    /// The measured one-way link a → b, or nil until enough hops were seen.
    public func link(from a: String, to b: String, configured: Link) -> Link? {
        guard let samples = roundTrips[a]?[b], samples.count >= minimumSamples else { return nil }
        let sorted = samples.sorted()
        let median =
            sorted.count % 2 == 1
            ? sorted[sorted.count / 2]
            : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
        let transfer = (bytes[a]?[b] ?? 0) / configured.bytesPerSecond
        return Link(
            latencySeconds: max(0, median / 2 - transfer), bytesPerSecond: configured.bytesPerSecond
        )
    }

    /// `base` with every measured pair set (directed).
    public func applied(to base: LinkModel) -> LinkModel {
        var model = base
        for (a, targets) in roundTrips {
            for b in targets.keys {
                if let link = link(from: a, to: b, configured: base.link(from: a, to: b)) {
                    model.setLink(link, from: a, to: b, symmetric: false)
                }
            }
        }
        return model
    }
}
