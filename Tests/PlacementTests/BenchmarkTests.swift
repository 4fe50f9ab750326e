import Placement
import Testing

@Suite struct BenchmarkTests {
    /// 64 workers, 80 layers: prints the solve time for each hardware mix, link style and
    /// speed spread; the target is well under a second.
    @Test func solvesSixtyFourWorkersAndEightyLayersQuickly() throws {
        let results = try PlacementBenchmark.run(repetitions: 1)
        print(PlacementBenchmark.report(results))
        for result in results {
            #expect(result.plan.provenOptimal, "not proven optimal: \(result.label)")
            #expect(result.seconds < 5, "\(result.label) took \(result.seconds) s")
        }
    }
}
