import Testing

@testable import Placement

/// The cache benchmark on a small seeded trace: the table's shape, determinism, and the
/// claim docs/caching.md makes (Tessera's two loops beat LRU on hits and bytes loaded).
@Suite struct CachingSimulationTests {
    static func smallTrace() -> CacheTrace {
        var options = CacheTrace.Options()
        options.durationSeconds = 2 * 3600
        options.seed = 7
        return CacheTrace(options)
    }

    static func results(_ trace: CacheTrace) -> [CacheSimulationResult] {
        let simulation = CacheSimulation(CacheSimulation.Options())
        return CacheSimulation.Variant.standard.map { simulation.run(trace, $0) }
    }

    @Test func theTraceIsDeterministicAndShifts() {
        let first = Self.smallTrace()
        let second = Self.smallTrace()
        #expect(first.requests == second.requests)
        #expect(first.models == second.models)
        #expect(first.models.count == 24)
        // The most requested model of the first half-hour is not that of the last.
        func top(_ from: Double, _ to: Double) -> String? {
            var counts: [String: Int] = [:]
            for request in first.requests where request.time >= from && request.time < to {
                counts[request.model, default: 0] += 1
            }
            return counts.max { $0.value != $1.value ? $0.value < $1.value : $0.key > $1.key }?.key
        }
        #expect(top(0, 1800) != top(5400, 7200))
    }

    @Test func tesseraBeatsLRUOnHitsAndBytesLoaded() throws {
        let results = Self.results(Self.smallTrace())
        print(CacheBenchReport.render(results))
        #expect(
            results.map(\.policy) == ["lru", "lfu", "tessera-fast", "tessera", "tessera-preload"])
        let lru = results[0]
        let tessera = results[3]
        print(CacheBenchReport.comparison(tessera, against: lru))
        print(CacheBenchReport.comparison(results[2], against: lru))
        #expect(tessera.hitRatio > lru.hitRatio)
        #expect(tessera.loadedBytes < lru.loadedBytes)
        for result in results {
            #expect(result.requests == Self.smallTrace().requests.count)
            #expect(result.refused == 0)
        }
    }

    @Test func theTableHasOneRowPerPolicyNameFirst() {
        let results = Self.results(Self.smallTrace())
        let lines = CacheBenchReport.render(results).split(separator: "\n")
        #expect(lines.count == 6)
        #expect(lines[0].hasPrefix("policy"))
        #expect(
            lines.dropFirst().map { String($0.split(separator: " ")[0]) }
                == ["lru", "lfu", "tessera-fast", "tessera", "tessera-preload"])
    }
}
