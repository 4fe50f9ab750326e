/// Replays a `CacheTrace` against a small cluster whose workers cache whole models, with the
/// real policy types (the ones the scheduler and workers run). The fast loop serves each
/// request from a warm copy, or loads the model on the worker where that is cheapest after
/// evicting what the policy picks (never a model serving, loading, or inside its keep-alive).
/// With a slow loop, every `slowLoopSeconds` it forecasts demand (`DemandForecaster`), picks a
/// warm set (`WarmSetPlanner`) and protects it from the fast loop's evictions until the next
/// run; `.protectAndPreload` also loads the warm set's cold members ahead of their requests.
///
/// Simplifications (docs/caching.md): a model fits one worker (no pipelines), a request is
/// a miss whenever its model is not ready when it arrives (it then waits for the load), and
/// a worker loads one model at a time.
public struct CacheSimulation: Sendable {
    public struct Options: Sendable {
        public var workers = 3
        public var memoryBytesPerWorker = 5_000_000_000
        public var diskBytesPerWorker = 10_000_000_000
        public var keepAliveSeconds: Double = 30
        /// How long a request whose model cannot be loaded anywhere yet waits before it is
        /// refused.
        public var maxQueueWaitSeconds: Double = 120
        public var thrashWindowSeconds: Double = 600
        public var reloadCost = ReloadCostModel()
        public var slowLoopSeconds: Double = 300
        public var forecastHalfLife: Double = 300
        public var forecastTrendHalfLife: Double = 600
        /// Share of the cluster's memory the slow loop may claim for its warm set; the rest
        /// stays for the fast loop's misses.
        public var warmShare = 0.7
        public init() {}
    }

    /// What the slow loop does with its forecast.
    public enum SlowLoop: Sendable, Hashable {
        case off
        /// Keep the warm set: the fast loop evicts from it only when nothing else makes room.
        case protectWarmSet
        /// Also load up to `perRun` cold members of the warm set each run.
        case protectAndPreload(perRun: Int)
    }

    public struct Variant: Sendable {
        public var name: String
        public var policy: any CachePolicy
        public var slowLoop: SlowLoop

        public init(name: String, policy: any CachePolicy, slowLoop: SlowLoop) {
            self.name = name
            self.policy = policy
            self.slowLoop = slowLoop
        }

        /// The rows of `tessera bench cache`: the two baselines, Tessera's fast loop alone,
        /// both loops, and both loops with memory pre-loading (which costs bytes here).
        public static let standard: [Variant] = [
            Variant(name: "lru", policy: LeastRecentlyUsed(), slowLoop: .off),
            Variant(name: "lfu", policy: LeastFrequentlyUsed(), slowLoop: .off),
            Variant(name: "tessera-fast", policy: GreedyDualSizeFrequency(), slowLoop: .off),
            Variant(name: "tessera", policy: GreedyDualSizeFrequency(), slowLoop: .protectWarmSet),
            Variant(
                name: "tessera-preload", policy: GreedyDualSizeFrequency(),
                slowLoop: .protectAndPreload(perRun: 4)),
        ]
    }

    public let options: Options

    public init(_ options: Options) {
        self.options = options
    }

    public func run(_ trace: CacheTrace, _ variant: Variant) -> CacheSimulationResult {
        var run = SimulationRun(options: options, trace: trace, variant: variant)
        for request in trace.requests { run.serve(request) }
        return run.result
    }
}

/// The state of one replay.
struct SimulationRun {
    let options: CacheSimulation.Options
    let trace: CacheTrace
    let variant: CacheSimulation.Variant
    var workers: [SimulatedWorker]
    var forecaster: DemandForecaster
    var thrash: ThrashDetector
    var warmSet: Set<String> = []
    var nextSlowLoop = 0.0
    var result: CacheSimulationResult

    init(options: CacheSimulation.Options, trace: CacheTrace, variant: CacheSimulation.Variant) {
        self.options = options
        self.trace = trace
        self.variant = variant
        var workers: [SimulatedWorker] = []
        for _ in 0..<options.workers {
            workers.append(
                SimulatedWorker(
                    memoryBudget: options.memoryBytesPerWorker,
                    diskBudget: options.diskBytesPerWorker, policy: variant.policy))
        }
        self.workers = workers
        forecaster = DemandForecaster(
            halfLife: options.forecastHalfLife, trendHalfLife: options.forecastTrendHalfLife)
        thrash = ThrashDetector(window: options.thrashWindowSeconds)
        result = CacheSimulationResult(policy: variant.name)
    }

    mutating func serve(_ request: CacheTrace.Request) {
        let time = request.time
        if variant.slowLoop != .off && time >= nextSlowLoop {
            runSlowLoop(at: time)
            nextSlowLoop = time + options.slowLoopSeconds
        }
        forecaster.record(request.model, count: 1, at: time)
        let bytes = trace.models[request.model] ?? 0
        result.requests += 1
        result.requestedBytes += Double(bytes)

        if let index = warmCopy(of: request.model) {
            let ready = workers[index].readyAt[request.model] ?? 0
            workers[index].policy.recordAccess(request.model, at: time)
            let start = max(time, ready)
            workers[index].busyUntil[request.model] = max(
                workers[index].busyUntil[request.model] ?? 0, start + request.serviceSeconds)
            if ready <= time {
                result.hits += 1
                result.hitBytes += Double(bytes)
            } else {
                result.coldStartDelays.append(ready - time)
            }
            return
        }
        // No room anywhere (everything serving, loading or inside its keep-alive): the request
        // waits in the queue and tries again each second, as the scheduler's would.
        var attempt = time
        var loaded = loadSomewhere(request.model, bytes: bytes, at: attempt, respectWarmSet: true)
        while loaded == nil && attempt - time < options.maxQueueWaitSeconds {
            attempt += 1
            loaded = loadSomewhere(request.model, bytes: bytes, at: attempt, respectWarmSet: true)
        }
        guard let ready = loaded else {
            result.refused += 1
            return
        }
        result.coldStartDelays.append(ready.time - time)
        workers[ready.worker].busyUntil[request.model] = ready.time + request.serviceSeconds
    }

    /// The resident copy that is ready soonest.
    func warmCopy(of key: String) -> Int? {
        var best: Int?
        var bestReady = Double.infinity
        for index in workers.indices {
            guard let ready = workers[index].readyAt[key] else { continue }
            if ready < bestReady {
                best = index
                bestReady = ready
            }
        }
        return best
    }

    /// Loads `key` where it will be ready soonest, evicting the policy's victims there.
    /// The warm set is protected first; only when that leaves no room anywhere does the fast
    /// loop evict from it (a request beats a forecast).
    mutating func loadSomewhere(
        _ key: String, bytes: Int, at time: Double, respectWarmSet: Bool
    ) -> (worker: Int, time: Double)? {
        var best: (worker: Int, victims: [String], item: CachedItem, ready: Double, evicted: Int)?
        for index in workers.indices {
            var protected = workers[index].hardProtected(
                at: time, keepAlive: options.keepAliveSeconds)
            if respectWarmSet { protected.formUnion(warmSet) }
            guard
                let victims = workers[index].memoryVictims(
                    for: bytes, protected: protected, at: time)
            else { continue }
            let onDisk = workers[index].disk[key] != nil
            let item = options.reloadCost.item(key: key, bytes: bytes, onDisk: onDisk)
            let ready = max(time, workers[index].loadFreeAt) + item.reloadSeconds
            var evicted = 0
            for victim in victims { evicted += workers[index].memory[victim]?.bytes ?? 0 }
            // Where nothing must go first, then where it is ready soonest, then where the
            // fewest bytes go.
            if let current = best {
                let better =
                    (evicted == 0) != (current.evicted == 0)
                    ? evicted == 0
                    : (ready != current.ready ? ready < current.ready : evicted < current.evicted)
                if !better { continue }
            }
            best = (index, victims, item, ready, evicted)
        }
        guard let chosen = best else {
            if respectWarmSet && !warmSet.isEmpty {
                return loadSomewhere(key, bytes: bytes, at: time, respectWarmSet: false)
            }
            return nil
        }
        for victim in chosen.victims {
            workers[chosen.worker].evictFromMemory(victim, at: time)
            result.evictions += 1
            if warmCopy(of: victim) == nil { thrash.recordEviction(victim, at: time) }
        }
        if workers[chosen.worker].disk[key] == nil {
            result.downloadedBytes += Double(bytes)
            _ = workers[chosen.worker].storeOnDisk(key, bytes: bytes, at: time)
        }
        // Once loaded, the model is on this disk: evicting it later costs a disk reload.
        var item = chosen.item
        item.reloadSeconds = options.reloadCost.fromDisk(bytes: bytes)
        let ready = workers[chosen.worker].load(item, at: time)
        result.loads += 1
        result.loadedBytes += Double(bytes)
        if thrash.recordLoad(key, at: time) { result.thrashEvents += 1 }
        return (chosen.worker, ready)
    }

    /// Forecast, pick the warm set, pre-load its cold members (most valuable first).
    mutating func runSlowLoop(at time: Double) {
        let horizon = options.slowLoopSeconds * 2
        var candidates: [WarmSetPlanner.Candidate] = []
        for row in forecaster.ranked(at: time, horizon: horizon) {
            guard let bytes = trace.models[row.key] else { continue }
            candidates.append(
                WarmSetPlanner.Candidate(
                    item: options.reloadCost.item(key: row.key, bytes: bytes, onDisk: false),
                    rate: row.rate))
        }
        // Worth keeping ahead: about one request per slow-loop interval.
        let planner = WarmSetPlanner(minimumRate: 1 / options.slowLoopSeconds)
        let budget = Int(Double(options.memoryBytesPerWorker * options.workers) * options.warmShare)
        let chosen = planner.warmSet(candidates, budgetBytes: budget)
        warmSet = Set(chosen)
        guard case .protectAndPreload(let perRun) = variant.slowLoop else { return }
        var preloads = 0
        for key in chosen where warmCopy(of: key) == nil {
            if preloads >= perRun { break }
            guard let bytes = trace.models[key] else { continue }
            if loadSomewhere(key, bytes: bytes, at: time, respectWarmSet: true) != nil {
                preloads += 1
                result.preloads += 1
            }
        }
    }
}
