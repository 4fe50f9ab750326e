import Testing

@testable import Placement

/// Eviction order of LRU, LFU and GDSF against orders worked out by hand.
@Suite struct CachingPolicyTests {
    let mb = 1_000_000

    func item(_ key: String, megabytes: Int, reload: Double = 1) -> CachedItem {
        CachedItem(key: key, bytes: megabytes * mb, reloadSeconds: reload)
    }

    @Test func lruEvictsTheOldestUseFirst() {
        var lru = LeastRecentlyUsed()
        let items = [
            item("a", megabytes: 100), item("b", megabytes: 100), item("c", megabytes: 100),
        ]
        for (index, entry) in items.enumerated() { lru.recordInsert(entry, at: Double(index)) }
        lru.recordAccess("a", at: 3)
        // b (1) then c (2) then a (3).
        #expect(
            lru.victims(toFree: 250 * mb, free: 0, resident: items, protected: [], at: 4)
                == ["b", "c", "a"])
        #expect(
            lru.victims(toFree: 150 * mb, free: 0, resident: items, protected: ["b"], at: 4)
                == ["c", "a"])
        #expect(
            lru.victims(toFree: 50 * mb, free: 60 * mb, resident: items, protected: [], at: 4)
                == [])
        #expect(
            lru.victims(toFree: 250 * mb, free: 0, resident: items, protected: ["a"], at: 4)
                == nil)
    }

    @Test func lfuEvictsTheLeastUsedAndBreaksTiesByRecency() {
        var lfu = LeastFrequentlyUsed()
        let items = [item("a", megabytes: 10), item("b", megabytes: 10), item("c", megabytes: 10)]
        for (index, entry) in items.enumerated() { lfu.recordInsert(entry, at: Double(index)) }
        lfu.recordAccess("a", at: 3)
        lfu.recordAccess("a", at: 4)  // a: 3 uses
        lfu.recordAccess("c", at: 5)  // c: 2 uses, b: 1
        #expect(
            lfu.victims(toFree: 30 * mb, free: 0, resident: items, protected: [], at: 6)
                == ["b", "c", "a"])
        lfu.recordAccess("b", at: 7)  // b: 2 uses, used after c: c goes first
        #expect(
            lfu.victims(toFree: 10 * mb, free: 0, resident: items, protected: [], at: 8)
                == ["c"])
        // In-cache LFU: an evicted item comes back with a count of 1.
        lfu.recordEviction("a", at: 9)
        lfu.recordInsert(items[0], at: 10)
        #expect(
            lfu.victims(toFree: 10 * mb, free: 0, resident: items, protected: [], at: 11)
                == ["a"])
    }

    /// The worked example of docs/caching.md. Value per use = reload s / GB:
    /// A (100 MB, 1 s) 10, B (1 GB, 5 s) 5, C (10 MB, 0.5 s) 50, D (200 MB, 2 s) 10.
    @Test func gdsfPrioritiesMatchTheWorkedExample() throws {
        var gdsf = GreedyDualSizeFrequency()
        let a = item("A", megabytes: 100, reload: 1)
        let b = item("B", megabytes: 1000, reload: 5)
        let c = item("C", megabytes: 10, reload: 0.5)
        let d = item("D", megabytes: 200, reload: 2)
        for entry in [a, b, c] { gdsf.recordInsert(entry, at: 0) }
        gdsf.recordAccess("A", at: 1)
        gdsf.recordAccess("A", at: 2)
        // H = L + f × value: A = 0 + 3 × 10, B = 5, C = 50.
        #expect(abs(try #require(gdsf.priority(of: "A")) - 30) < 1e-9)
        #expect(abs(try #require(gdsf.priority(of: "B")) - 5) < 1e-9)
        #expect(abs(try #require(gdsf.priority(of: "C")) - 50) < 1e-9)
        #expect(
            gdsf.victims(toFree: 500 * mb, free: 0, resident: [a, b, c], protected: [], at: 3)
                == ["B"])
        gdsf.recordEviction("B", at: 3)
        #expect(abs(gdsf.clock - 5) < 1e-9)  // L rises to the evicted H
        gdsf.recordAccess("C", at: 4)  // 5 + 2 × 50 = 105
        gdsf.recordInsert(d, at: 5)  // 5 + 1 × 10 = 15
        #expect(abs(try #require(gdsf.priority(of: "C")) - 105) < 1e-9)
        #expect(abs(try #require(gdsf.priority(of: "D")) - 15) < 1e-9)
        // D (15) then A (30): 200 + 100 MB covers 250 MB.
        #expect(
            gdsf.victims(toFree: 250 * mb, free: 0, resident: [a, c, d], protected: [], at: 6)
                == ["D", "A"])
        #expect(
            gdsf.victims(toFree: 100 * mb, free: 0, resident: [a, c, d], protected: ["D"], at: 6)
                == ["A"])
        // Without D only 110 MB can go.
        #expect(
            gdsf.victims(toFree: 250 * mb, free: 0, resident: [a, c, d], protected: ["D"], at: 6)
                == nil)
    }

    @Test func gdsfKeepsWhatIsExpensiveToReload() {
        var gdsf = GreedyDualSizeFrequency()
        let cheap = item("on-disk", megabytes: 500, reload: 1.3)
        let dear = item("download", megabytes: 500, reload: 6.3)
        gdsf.recordInsert(dear, at: 0)
        gdsf.recordInsert(cheap, at: 0)
        #expect(
            gdsf.victims(toFree: 1, free: 0, resident: [dear, cheap], protected: [], at: 1)
                == ["on-disk"])
    }

    @Test func policiesAreFoundByName() {
        #expect(
            CachePolicies.names.map { CachePolicies.named($0)?.name } == ["lru", "lfu", "tessera"])
        #expect(CachePolicies.named("fifo") == nil)
    }

    @Test func reloadCostIsDiskReadPlusLoadAndDownloadComesFirst() {
        let model = ReloadCostModel(
            diskBytesPerSecond: 500e6, linkBytesPerSecond: 100e6, loadSeconds: 0.1)
        #expect(abs(model.fromDisk(bytes: 1_000_000_000) - 2.1) < 1e-9)
        #expect(abs(model.download(bytes: 1_000_000_000) - 12.1) < 1e-9)
        #expect(
            model.item(key: "k", bytes: 1_000_000_000, onDisk: true).reloadSeconds
                == model.fromDisk(bytes: 1_000_000_000))
    }

    @Test func thrashIsAReloadWithinTheWindow() {
        var thrash = ThrashDetector(window: 60)
        thrash.recordEviction("m", at: 10)
        let reloaded = thrash.recordLoad("m", at: 50)
        let loadedAgain = thrash.recordLoad("m", at: 55)  // no eviction in between
        thrash.recordEviction("m", at: 100)
        let reloadedLate = thrash.recordLoad("m", at: 200)
        let neverEvicted = thrash.recordLoad("never-evicted", at: 201)
        #expect(reloaded && !loadedAgain && !reloadedLate && !neverEvicted)
        #expect(thrash.events == 1)
    }
}
