import Logging
import Placement

/// The scheduler's cache policy state, shared by both loops and kept by the plan loop:
/// GreedyDualSizeFrequency ranks warm models for eviction (the fast loop), the
/// DemandForecaster turns request counts into rates per model (the slow loop decides
/// replicas from them), and the ThrashDetector counts a model evicted and loaded again
/// within `PlanSettings.thrashWindow`. Times are seconds since the loop started.
struct ServingCache {
    let settings: PlanSettings
    let origin = ContinuousClock.now
    private(set) var policy = GreedyDualSizeFrequency()
    private(set) var thrash: ThrashDetector
    private(set) var forecaster: DemandForecaster
    /// Models the eviction ranks hold: those planned (loading or warm) since they loaded.
    private(set) var resident: Set<String> = []
    let costs = ReloadCostModel()
    /// Tokens a request is expected to generate, for the replicas a rate needs.
    var tokensPerRequest = 128

    init(settings: PlanSettings) {
        self.settings = settings
        thrash = ThrashDetector(window: settings.thrashWindow.inSeconds)
        // Rates follow a shift within about a minute; the trend over a few minutes.
        forecaster = DemandForecaster(halfLife: 60, trendHalfLife: 240, bucketSeconds: 10)
    }

    func time(_ instant: ContinuousClock.Instant) -> Double { (instant - origin).inSeconds }

    /// Counts the requests routing saw since the last call: demand for the forecaster, uses
    /// for the eviction ranks.
    mutating func absorbRequests(_ models: ServedModels, now: ContinuousClock.Instant = .now) {
        let at = time(now)
        for (key, count) in models.takeRequests() {
            forecaster.record(key, count: count, at: at)
            for _ in 0..<min(count, 1000) { policy.recordAccess(key, at: at) }
        }
        forecaster.advance(to: at)
    }

    /// A model started loading: it enters the eviction ranks; loaded again soon after an
    /// eviction, it is a thrash event.
    mutating func loaded(_ entry: ServedModels.Entry, now: ContinuousClock.Instant, logger: Logger)
    {
        guard resident.insert(entry.key).inserted else { return }
        let at = time(now)
        let bytes = PlanMemory.footprint(
            of: entry.model.profile, contextLength: settings.contextLength,
            sessions: settings.sessionsPerWorker)
        policy.recordInsert(costs.item(key: entry.key, bytes: bytes, onDisk: false), at: at)
        if thrash.recordLoad(entry.key, at: at) {
            ServingMetrics.thrash(model: entry.name)
            logger.notice(
                "thrash: model loaded again soon after its eviction",
                metadata: ["model": "\(entry.name)", "window_s": "\(thrash.window)"])
        }
        thrash.prune(at: at)
    }

    mutating func evicted(_ key: String, now: ContinuousClock.Instant) {
        resident.remove(key)
        let at = time(now)
        policy.recordEviction(key, at: at)
        thrash.recordEviction(key, at: at)
    }

    /// Models to evict so that `need` bytes fit, cheapest to lose first; nil when evicting
    /// every evictable model would not make room. Never a model in use (leases), pinned,
    /// loading (a request waits for it) or warm for less than the minimum keep-alive.
    /// `free` counts bytes over all workers, so a model may still not fit for fragmentation:
    /// then the ranks are asked to free the whole need.
    func victims(
        need: Int, free: Int, candidates: [ServedModels.Entry], now: ContinuousClock.Instant
    ) async -> [String]? {
        var resident: [CachedItem] = []
        var protected: Set<String> = []
        for entry in candidates {
            let bytes = await entry.pipelines.memoryByWorker().values.reduce(0, +)
            resident.append(costs.item(key: entry.key, bytes: bytes, onDisk: true))
            let inUse = await entry.pipelines.activeLeases > 0
            let young = entry.warmSince.map { now - $0 < settings.minimumKeepAlive } ?? true
            if inUse || entry.isPinned || entry.state != .warm || young {
                protected.insert(entry.key)
            }
        }
        let at = time(now)
        if let chosen = policy.victims(
            toFree: need, free: free, resident: resident, protected: protected, at: at),
            !chosen.isEmpty
        {
            return chosen
        }
        return policy.victims(
            toFree: need, free: 0, resident: resident, protected: protected, at: at)
    }

    /// Pipelines the model should have: enough for the sessions its forecast rate keeps
    /// busy at once (Little's law: rate × seconds per request, over the sessions a pipeline
    /// reserves), at least one and at least its pin, at most `maxPipelines`.
    func replicas(
        for entry: ServedModels.Entry, secondsPerToken: Double?, maxPipelines: Int,
        now: ContinuousClock.Instant
    ) -> Int {
        let rate = forecaster.rate(
            entry.key, at: time(now), horizon: settings.cacheInterval.inSeconds)
        let seconds = Double(tokensPerRequest) * (secondsPerToken ?? 0.02)
        let concurrent = rate * seconds
        let needed = Int((concurrent / Double(max(1, settings.sessionsPerWorker))).rounded(.up))
        return min(max(1, needed, entry.pinReplicas), max(1, maxPipelines))
    }

    func forecastPerMinute(_ key: String, now: ContinuousClock.Instant = .now) -> Double {
        (forecaster.rate(key, at: time(now), horizon: settings.cacheInterval.inSeconds) * 600)
            .rounded() / 10
    }
}
