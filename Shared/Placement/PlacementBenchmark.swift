import Cluster

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Times `Placement.solve` on synthetic clusters; the logic behind `tessera placement bench`.
/// Reports wall time and the solving thread's CPU time: on a shared machine the second is
/// the one that says what the solver costs.
public enum PlacementBenchmark {
    public struct Result: Sendable {
        public var label: String
        /// Fastest wall-clock time over the repetitions.
        public var seconds: Double
        /// Fastest CPU time of the solving thread over the repetitions.
        public var cpuSeconds: Double
        public var plan: Plan
    }

    /// Solves each scenario `repetitions` times and keeps the fastest wall time.
    public static func run(
        workerCount: Int = 64, layerCount: Int = 80, seed: UInt64 = 1, repetitions: Int = 3,
        styles: [SyntheticCluster.LinkStyle] = SyntheticCluster.LinkStyle.allCases,
        mixes: [SyntheticCluster.HardwareMix] = SyntheticCluster.HardwareMix.allCases
    ) throws -> [Result] {
        var results: [Result] = []
        for (mix, style) in mixes.flatMap({ mix in styles.map { (mix, $0) } }) {
            for jitter in [false, true] {
                let scenario = SyntheticCluster.edge(
                    workerCount: workerCount, layerCount: layerCount, linkStyle: style,
                    jitter: jitter, hardware: mix,
                    seed: seed)
                var fastest = Double.infinity
                var fastestCPU = Double.infinity
                var plan: Plan?
                for _ in 0..<max(1, repetitions) {
                    let clock = ContinuousClock()
                    let start = clock.now
                    let cpuStart = threadCPUSeconds()
                    plan = try Placement.solve(
                        model: scenario.model, workers: scenario.workers, links: scenario.links,
                        options: scenario.options)
                    fastestCPU = min(fastestCPU, threadCPUSeconds() - cpuStart)
                    fastest = min(fastest, (clock.now - start).inSeconds)
                }
                let label =
                    "\(workerCount) \(mix.rawValue) workers × \(layerCount) layers, \(style.rawValue) links, "
                    + (jitter ? "measured speeds (±10%)" : "catalog speeds")
                results.append(
                    Result(label: label, seconds: fastest, cpuSeconds: fastestCPU, plan: plan!))
            }
        }
        return results
    }

    /// One line per result: time, pipelines, primary ms/token, search nodes, optimality.
    public static func report(_ results: [Result]) -> String {
        results.map { result in
            let plan = result.plan
            let ms = plan.primary.secondsPerToken * 1000
            return "\(result.label): solve \(formatDecimal(result.seconds * 1000, 1)) ms wall, "
                + "\(formatDecimal(result.cpuSeconds * 1000, 1)) ms CPU, \(plan.pipelines.count) pipelines, "
                + "primary \(plan.primary.stages.count) stages \(formatDecimal(ms, 2)) ms/token, \(plan.searchNodes) nodes, "
                + (plan.provenOptimal ? "proven optimal" : "NOT proven optimal (budget hit)")
        }.joined(separator: "\n")
    }

    /// CPU seconds used by the calling thread so far.
    static func threadCPUSeconds() -> Double {
        var spec = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &spec)
        return Double(spec.tv_sec) + Double(spec.tv_nsec) * 1e-9
    }
}
