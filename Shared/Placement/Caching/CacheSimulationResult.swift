/// What one policy did over a replayed trace, and the benchmark table's row for it.
public struct CacheSimulationResult: Sendable {
    public var policy: String
    public var requests = 0
    public var hits = 0
    public var requestedBytes = 0.0
    public var hitBytes = 0.0
    public var loads = 0
    public var preloads = 0
    public var evictions = 0
    public var loadedBytes = 0.0
    public var downloadedBytes = 0.0
    public var thrashEvents = 0
    public var refused = 0
    /// Seconds each cold start (a request whose model was not ready) waited.
    public var coldStartDelays: [Double] = []

    public init(policy: String) {
        self.policy = policy
    }

    public var hitRatio: Double { requests == 0 ? 0 : Double(hits) / Double(requests) }
    public var byteHitRatio: Double { requestedBytes == 0 ? 0 : hitBytes / requestedBytes }

    public var meanColdStart: Double {
        coldStartDelays.isEmpty ? 0 : coldStartDelays.reduce(0, +) / Double(coldStartDelays.count)
    }

    /// Seconds all requests together waited for loads.
    public var totalColdStart: Double { coldStartDelays.reduce(0, +) }

    /// Nearest-rank 99th percentile.
    public var p99ColdStart: Double {
        guard !coldStartDelays.isEmpty else { return 0 }
        let sorted = coldStartDelays.sorted()
        let rank = Int((0.99 * Double(sorted.count)).rounded(.up))
        return sorted[max(0, min(sorted.count - 1, rank - 1))]
    }
}

/// The benchmark table: one row per policy, the policy's name first.
public enum CacheBenchReport {
    public static let header = [
        "policy", "hit%", "byte-hit%", "GB-loaded", "GB-downloaded", "cold-mean-s", "cold-p99-s",
        "thrash", "loads", "preloads", "refused",
    ]

    public static func render(_ results: [CacheSimulationResult]) -> String {
        var rows = [header]
        for result in results {
            rows.append([
                result.policy,
                formatDecimal(100 * result.hitRatio, 1),
                formatDecimal(100 * result.byteHitRatio, 1),
                formatDecimal(result.loadedBytes / 1e9, 1),
                formatDecimal(result.downloadedBytes / 1e9, 1),
                formatDecimal(result.meanColdStart, 2),
                formatDecimal(result.p99ColdStart, 2),
                "\(result.thrashEvents)", "\(result.loads)", "\(result.preloads)",
                "\(result.refused)",
            ])
        }
        var widths = [Int](repeating: 0, count: header.count)
        for row in rows {
            for (column, cell) in row.enumerated() {
                widths[column] = max(widths[column], cell.count)
            }
        }
        var lines: [String] = []
        for row in rows {
            var cells: [String] = []
            for (column, cell) in row.enumerated() {
                let pad = String(repeating: " ", count: widths[column] - cell.count)
                cells.append(column == 0 ? cell + pad : pad + cell)
            }
            lines.append(cells.joined(separator: "  "))
        }
        return lines.joined(separator: "\n")
    }

    /// How `candidate` compares with `baseline`: hit-ratio points gained and the share of
    /// bytes loaded saved, the two numbers the goal is stated in.
    public static func comparison(
        _ candidate: CacheSimulationResult, against baseline: CacheSimulationResult
    ) -> String {
        let points = 100 * (candidate.hitRatio - baseline.hitRatio)
        let saved =
            baseline.loadedBytes == 0 ? 0 : 100 * (1 - candidate.loadedBytes / baseline.loadedBytes)
        return "\(candidate.policy) vs \(baseline.policy): hit ratio "
            + (points >= 0 ? "+" : "") + formatDecimal(points, 1) + " points, "
            + formatDecimal(abs(saved), 1) + (saved >= 0 ? "% fewer" : "% more") + " bytes loaded, "
            + "total cold-start wait \(Int(candidate.totalColdStart.rounded())) s against "
            + "\(Int(baseline.totalColdStart.rounded())) s"
    }
}
