import Testing

@testable import Placement

/// Holt's method over buckets, against a series worked out by hand.
@Suite struct CachingForecastTests {
    /// Bucket 10 s and both half-lives 10 s: α = β = 0.5. Rates 1, 2, 3, 4 req/s:
    /// level 1, 1.5, 2.375, 3.46875; trend 0, 0.025, 0.05625, 0.0828125 (req/s per s).
    @Test func holtFollowsALinearRiseByHand() {
        var forecaster = DemandForecaster(halfLife: 10, trendHalfLife: 10, bucketSeconds: 10)
        #expect(abs(forecaster.alpha - 0.5) < 1e-12)
        for (bucket, count) in [10, 20, 30, 40].enumerated() {
            forecaster.record("m", count: count, at: Double(bucket) * 10)
        }
        // At 40 s the last bucket closes; mean over the next 20 s looks 10 s ahead.
        let expected = 3.46875 + 0.0828125 * 10
        #expect(abs(forecaster.rate("m", at: 40, horizon: 20) - expected) < 1e-9)
        #expect(abs(forecaster.rate("m", at: 40, horizon: 0) - 3.46875) < 1e-9)
        #expect(forecaster.rate("unknown", at: 40, horizon: 20) == 0)
    }

    @Test func anIdleKeyDecaysAndNeverGoesNegative() {
        var forecaster = DemandForecaster(halfLife: 60, trendHalfLife: 120, bucketSeconds: 15)
        for second in 0..<300 { forecaster.record("m", count: 2, at: Double(second)) }
        let busy = forecaster.rate("m", at: 300, horizon: 0)
        #expect(abs(busy - 2) < 0.05)
        let later = forecaster.rate("m", at: 420, horizon: 0)
        #expect(later < busy / 2)
        #expect(forecaster.rate("m", at: 4000, horizon: 600) >= 0)
        #expect(forecaster.rate("m", at: 100_000, horizon: 600) < 1e-3)
    }

    /// A rising key overtakes a steady one in the forecast before it does in the counts.
    @Test func rankedPutsTheRisingKeyFirst() {
        var forecaster = DemandForecaster(halfLife: 120, trendHalfLife: 120, bucketSeconds: 30)
        for minute in 0..<20 {
            let time = Double(minute) * 60
            forecaster.record("steady", count: 60, at: time)
            forecaster.record("rising", count: 3 * minute, at: time)
        }
        let ranked = forecaster.ranked(at: 1200, horizon: 600)
        #expect(ranked.map(\.key) == ["rising", "steady"])
        #expect(ranked[0].rate > ranked[1].rate)
    }
}
