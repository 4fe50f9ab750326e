import Placement
import Testing

/// The optimizer must match exhaustive search exactly on many small random instances.
@Suite struct ExactnessTests {
    /// Solves each seed's instance for one pipeline and checks it against brute force: both
    /// infeasible, or the same time per token and a feasible plan. Returns how many were feasible.
    func primariesMatchBruteForce(seeds: Range<UInt64>, instance make: (UInt64) -> Instance) -> Int
    {
        var feasible = 0
        for seed in seeds {
            let instance = make(seed)
            let reference = BruteForce(instance: instance).best(over: instance.workers)
            var options = instance.options
            options.maxPipelines = 1
            let plan = try? Placement.solve(
                model: instance.model, workers: instance.workers, links: instance.links,
                options: options)
            #expect((plan == nil) == (reference == nil), "seed \(seed)")
            guard let plan, let reference else { continue }
            feasible += 1
            #expect(close(plan.primary.secondsPerToken, reference.seconds), "seed \(seed)")
            expectFeasible(plan, instance)
        }
        return feasible
    }
    @Test(arguments: 0..<4)
    func primaryMatchesBruteForce(batch: Int) throws {
        var feasible = 0
        for seed in UInt64(batch * 150)..<UInt64(batch * 150 + 150) {
            let instance = randomInstance(seed: seed)
            let reference = BruteForce(instance: instance).best(over: instance.workers)
            do {
                var options = instance.options
                options.maxPipelines = 1
                let plan = try Placement.solve(
                    model: instance.model, workers: instance.workers, links: instance.links,
                    options: options)
                guard let reference else {
                    Issue.record(
                        "seed \(seed): optimizer found a plan brute force says is impossible")
                    continue
                }
                feasible += 1
                #expect(plan.provenOptimal)
                #expect(close(plan.primary.secondsPerToken, reference.seconds), "seed \(seed)")
                #expect(close(plan.primaryLowerBoundSeconds, reference.seconds), "seed \(seed)")
                expectFeasible(plan, instance)
            } catch let error as PlacementError {
                #expect(
                    reference == nil,
                    "seed \(seed): \(error) but brute force found \(reference!.seconds)")
            }
        }
        #expect(feasible > 40, "too few feasible instances (\(feasible)) to mean much")
    }

    /// Every worker in a site, with dear links between sites (and random pair links on top,
    /// some cheaper than the site links): the site-aware bound must stay admissible.
    @Test func sitedInstancesMatchBruteForce() throws {
        let feasible = primariesMatchBruteForce(seeds: 20_000..<20_300) { seed in
            randomInstance(seed: seed, maxWorkers: 5, maxLayers: 8, allInSites: true)
        }
        #expect(feasible > 100)
    }

    /// Fewer but larger instances: six workers and up to nine layers.
    @Test func largerInstancesMatchBruteForce() throws {
        let feasible = primariesMatchBruteForce(seeds: 30_000..<30_040) { seed in
            randomInstance(
                seed: seed, maxWorkers: 6, maxLayers: 9, budgetScale: 0.7, allInSites: seed % 2 == 0
            )
        }
        #expect(feasible >= 12, "only \(feasible) feasible")
    }

    /// Each replica must be the fastest pipeline over the workers the earlier ones left.
    @Test func replicasAreOptimalOverRemainingWorkers() throws {
        var replicas = 0
        for seed in UInt64(5000)..<UInt64(5200) {
            let instance = randomInstance(seed: seed, maxWorkers: 6, maxLayers: 5, budgetScale: 1.5)
            guard
                let plan = try? Placement.solve(
                    model: instance.model, workers: instance.workers, links: instance.links,
                    options: instance.options)
            else { continue }
            expectFeasible(plan, instance)
            var remaining = instance.workers
            for (index, pipeline) in plan.pipelines.enumerated() {
                let reference = try #require(BruteForce(instance: instance).best(over: remaining))
                #expect(
                    close(pipeline.secondsPerToken, reference.seconds),
                    "seed \(seed) pipeline \(index)")
                remaining.removeAll { pipeline.workerIDs.contains($0.id) }
                if index > 0 { replicas += 1 }
            }
            // Stopped for a reason: no workers, the cap, no pipeline fits, or too slow.
            if plan.pipelines.count < instance.options.maxPipelines,
                let next = BruteForce(instance: instance).best(over: remaining)
            {
                #expect(
                    next.seconds > instance.options.replicaLatencyFactor
                        * plan.primary.secondsPerToken * (1 - 1e-9))
            }
        }
        #expect(replicas > 50, "only \(replicas) replicas exercised")
    }

    @Test func sameInputInAnyOrderGivesTheSamePlan() throws {
        for seed in UInt64(9000)..<UInt64(9040) {
            var instance = randomInstance(seed: seed)
            guard
                let first = try? Placement.solve(
                    model: instance.model, workers: instance.workers, links: instance.links,
                    options: instance.options)
            else { continue }
            instance.workers.reverse()
            let second = try Placement.solve(
                model: instance.model, workers: instance.workers, links: instance.links,
                options: instance.options)
            #expect(first.pipelines == second.pipelines, "seed \(seed)")
        }
    }
}
