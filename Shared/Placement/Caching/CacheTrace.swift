import Foundation

/// A deterministic synthetic request trace for the cache benchmark: `modelCount` models of
/// log-uniform sizes, Poisson arrivals, Zipf popularity over a ranking that changes every
/// phase. Each phase's ranking is the previous one rotated by `rotation` places with two
/// random swaps; over the last `blendFraction` of a phase demand moves linearly towards the
/// next ranking, so rising models show a trend before they lead.
public struct CacheTrace: Sendable {
    public struct Options: Sendable {
        public var modelCount = 24
        public var minModelBytes = 50_000_000
        public var maxModelBytes = 3_000_000_000
        public var durationSeconds: Double = 4 * 3600
        public var requestsPerSecond: Double = 0.5
        public var phaseSeconds: Double = 1800
        public var zipfExponent: Double = 0.9
        public var rotation = 3
        public var blendFraction = 0.3
        /// Seconds a request keeps its model busy: `base + perGigabyte × size`.
        public var serviceBaseSeconds: Double = 2
        public var serviceSecondsPerGigabyte: Double = 2
        public var seed: UInt64 = 1

        public init() {}
    }

    public struct Request: Sendable, Hashable {
        public var time: Double
        public var model: String
        public var serviceSeconds: Double
    }

    public let models: [String: Int]  // key -> bytes
    public let requests: [Request]

    public init(_ options: Options) {
        var random = SeededGenerator(seed: options.seed)
        var sizes: [String: Int] = [:]
        var keys: [String] = []
        let low = log(Double(options.minModelBytes))
        let high = log(Double(options.maxModelBytes))
        for index in 0..<options.modelCount {
            let key = "model-" + (index < 10 ? "0" : "") + "\(index)"
            keys.append(key)
            sizes[key] = Int(exp(low + (high - low) * random.unit()))
        }
        models = sizes

        var weights: [Double] = []
        for rank in 0..<options.modelCount {
            weights.append(1 / pow(Double(rank + 1), options.zipfExponent))
        }
        var rankings: [[String]] = [keys.shuffledSeeded(&random)]
        let phaseCount = Int((options.durationSeconds / options.phaseSeconds).rounded(.up)) + 1
        for _ in 0..<phaseCount {
            rankings.append(Self.nextRanking(rankings[rankings.count - 1], options, &random))
        }

        var requests: [Request] = []
        var time = 0.0
        while true {
            time += -log(1 - random.unit()) / options.requestsPerSecond
            if time >= options.durationSeconds { break }
            let phase = Int(time / options.phaseSeconds)
            let progress = time / options.phaseSeconds - Double(phase)
            let blendStart = 1 - options.blendFraction
            let towardsNext =
                progress > blendStart ? (progress - blendStart) / options.blendFraction : 0
            let current = rankings[phase]
            let next = rankings[phase + 1]
            var demand: [String: Double] = [:]
            for rank in 0..<options.modelCount {
                demand[current[rank], default: 0] += (1 - towardsNext) * weights[rank]
                demand[next[rank], default: 0] += towardsNext * weights[rank]
            }
            let model = Self.pick(keys, demand, &random)
            let gigabytes = Double(sizes[model] ?? 0) / 1e9
            requests.append(
                Request(
                    time: time, model: model,
                    serviceSeconds: options.serviceBaseSeconds + options.serviceSecondsPerGigabyte
                        * gigabytes))
        }
        self.requests = requests
    }

    static func nextRanking(
        _ ranking: [String], _ options: Options, _ random: inout SeededGenerator
    ) -> [String] {
        let count = ranking.count
        var next: [String] = []
        for index in 0..<count { next.append(ranking[(index + options.rotation) % count]) }
        for _ in 0..<2 {
            let a = random.below(count)
            let b = random.below(count)
            next.swapAt(a, b)
        }
        return next
    }

    static func pick(
        _ keys: [String], _ demand: [String: Double], _ random: inout SeededGenerator
    ) -> String {
        var total = 0.0
        for key in keys { total += demand[key] ?? 0 }
        var target = random.unit() * total
        for key in keys {
            target -= demand[key] ?? 0
            if target < 0 { return key }
        }
        return keys[keys.count - 1]
    }
}

extension Array {
    /// Fisher-Yates with the seeded generator (the standard library's shuffle takes one too,
    /// but its algorithm is not promised to stay the same across releases).
    func shuffledSeeded(_ random: inout SeededGenerator) -> [Element] {
        var copy = self
        var index = copy.count - 1
        while index > 0 {
            copy.swapAt(index, random.below(index + 1))
            index -= 1
        }
        return copy
    }
}
