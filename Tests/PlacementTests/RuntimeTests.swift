import Placement
import Testing

/// Two pipelines: a fast one (a, b) and a slower replica (c, d).
private func twoPipelinePlan() throws -> (Plan, [WorkerProfile]) {
    let model = Fixtures.uniformModel(layers: 8)
    let workers = [
        Fixtures.worker("a", memory: 500, bytesPerSecond: 2000),
        Fixtures.worker("b", memory: 500, bytesPerSecond: 2000),
        Fixtures.worker("c", memory: 500, bytesPerSecond: 1500),
        Fixtures.worker("d", memory: 500, bytesPerSecond: 1500),
    ]
    let plan = try Placement.solve(model: model, workers: workers, links: Fixtures.links)
    return (plan, workers)
}

@Suite struct RouterTests {
    @Test func idlePipelinesPreferTheFastest() throws {
        let (plan, _) = try twoPipelinePlan()
        #expect(plan.pipelines.count == 2)
        #expect(plan.pipelines[0].secondsPerToken < plan.pipelines[1].secondsPerToken)
        #expect(
            Router.choosePipeline(plan: plan, outstandingTokens: [0, 0], expectedTokens: 100) == 0)
        #expect(Router.choosePipeline(plan: plan, outstandingTokens: [], expectedTokens: 100) == 0)
    }

    @Test func aBusyPrimarySendsWorkToTheReplica() throws {
        let (plan, _) = try twoPipelinePlan()
        #expect(
            Router.choosePipeline(plan: plan, outstandingTokens: [5000, 0], expectedTokens: 100)
                == 1)
        let wait = Router.predictedCompletionSeconds(
            pipeline: plan.pipelines[0], outstandingTokens: 5000, expectedTokens: 100)
        #expect(abs(wait - 5100 * plan.pipelines[0].bottleneckSeconds) < 1e-9)
    }

    @Test func noPipelinesNoChoice() {
        #expect(
            Router.choosePipeline(pipelines: [], outstandingTokens: [], expectedTokens: 1) == nil)
    }
}

@Suite struct SpeedEstimatorTests {
    @Test func convergesToTheObservedSlowdown() {
        let prior = WorkerSpeed(bytesPerSecond: 1000, overheadSeconds: 0.01)
        var estimator = SpeedEstimator(prior: prior)
        // Prior predicts 0.01 + 500/1000 = 0.51 s; the worker actually takes twice that.
        for _ in 0..<40 { estimator.observe(bytesRead: 500, seconds: 1.02) }
        #expect(abs(estimator.slowdown - 2) < 1e-9)
        #expect(abs(estimator.estimate.bytesPerSecond - 500) < 1e-6)
        #expect(abs(estimator.estimate.seconds(bytesRead: 500, flops: 0) - 1.02) < 1e-9)
    }

    @Test func aFewStepsDoNotMoveThePrior() {
        var estimator = SpeedEstimator(
            prior: WorkerSpeed(bytesPerSecond: 1000), window: 16, minimumSamples: 8)
        estimator.observe(bytesRead: 1000, seconds: 10)  // a cold first step: page faults
        for _ in 0..<6 { estimator.observe(bytesRead: 1000, seconds: 2) }
        #expect(estimator.slowdown == 1)
        estimator.observe(bytesRead: 1000, seconds: 2)
        #expect(estimator.slowdown == 2)  // eight samples: the median ignores the cold one
    }

    @Test func stallsAndGarbageDoNotMoveTheMedian() {
        var estimator = SpeedEstimator(prior: WorkerSpeed(bytesPerSecond: 1000))
        estimator.observe(bytesRead: 1000, seconds: -1)
        estimator.observe(bytesRead: 1000, seconds: .nan)
        estimator.observe(bytesRead: 0, seconds: 1)
        #expect(estimator.sampleCount == 0)
        for index in 0..<16 {
            estimator.observe(bytesRead: 1000, seconds: index % 4 == 0 ? 1000 : 0.5)
        }
        // 4 stalls of 16 (clamped to 10×) leave the median alone
        #expect(estimator.slowdown == 0.5)
        #expect(estimator.ratios.count == 16 && estimator.ratios.max() == 10)
    }

    @Test func overheadDominatedStepsAreIgnored() {
        var estimator = SpeedEstimator(
            prior: WorkerSpeed(bytesPerSecond: 1000, overheadSeconds: 0.5))
        // 0.9 s of streaming < 2 × 0.5 s
        for _ in 0..<16 { estimator.observe(bytesRead: 900, seconds: 5) }
        #expect(estimator.sampleCount == 0 && estimator.slowdown == 1)
        for _ in 0..<16 { estimator.observe(bytesRead: 1000, seconds: 3) }  // predicted 1.5 s
        #expect(estimator.slowdown == 2)
    }

    @Test func theWindowForgetsOldSpeed() {
        var estimator = SpeedEstimator(prior: WorkerSpeed(bytesPerSecond: 1000), window: 16)
        for _ in 0..<16 { estimator.observe(bytesRead: 1000, seconds: 1) }
        for _ in 0..<9 { estimator.observe(bytesRead: 1000, seconds: 3) }
        #expect(estimator.slowdown == 3)  // the newer speed is the majority of the window
    }
}

@Suite struct ReplanAdvisorTests {
    @Test func anUnchangedClusterKeepsItsPlan() throws {
        let (plan, workers) = try twoPipelinePlan()
        #expect(ReplanAdvisor().reasons(plan: plan, current: workers).isEmpty)
    }

    @Test func membershipChangesAreReported() throws {
        let (plan, workers) = try twoPipelinePlan()
        var current = workers.filter { $0.id != "a" }
        current.append(Fixtures.worker("e", memory: 500))
        #expect(
            ReplanAdvisor().reasons(plan: plan, current: current) == [
                .workerLeft("a"), .workerJoined("e"),
            ])
    }

    @Test func driftPastTheThresholdTriggersReplanning() throws {
        let (plan, workers) = try twoPipelinePlan()
        var current = workers
        current[0].speed = workers[0].speed.slowed(by: 1.1)
        #expect(ReplanAdvisor().reasons(plan: plan, current: current).isEmpty)
        current[0].speed = workers[0].speed.slowed(by: 1.3)
        let reasons = ReplanAdvisor().reasons(plan: plan, current: current)
        guard case .speedDrift(let id, let ratio)? = reasons.first else {
            Issue.record("expected a drift, got \(reasons)")
            return
        }
        #expect(id == "a" && abs(ratio - 1.3) < 1e-9)
    }

    @Test func estimatorFeedsTheAdvisor() throws {
        let (plan, workers) = try twoPipelinePlan()
        let stage = try #require(plan.stage(of: "b")?.stage)
        var estimator = SpeedEstimator(prior: workers[1].speed)
        for _ in 0..<20 { estimator.observe(stage: stage, seconds: stage.computeSeconds * 1.5) }
        var current = workers
        current[1].speed = estimator.estimate
        let reasons = ReplanAdvisor().reasons(plan: plan, current: current)
        #expect(reasons.count == 1)
        if case .speedDrift(let id, let ratio)? = reasons.first {
            #expect(id == "b" && abs(ratio - 1.5) < 1e-6)
        }
    }

    @Test func shrunkenMemoryIsReported() throws {
        let (plan, workers) = try twoPipelinePlan()
        var current = workers
        current[2].memoryBudgetBytes = 10
        let reasons = ReplanAdvisor().reasons(plan: plan, current: current)
        #expect(
            reasons.contains {
                if case .memoryShortfall(workerID: "c", _, budgetBytes: 10) = $0 {
                    true
                } else {
                    false
                }
            })
    }
}

@Suite struct PlanDiffTests {
    @Test func identicalPlansChangeNothing() throws {
        let (plan, _) = try twoPipelinePlan()
        let diff = PlanDiff(from: plan, to: plan)
        #expect(diff.isEmpty)
        #expect(
            diff.keptPipelines.map(\.old) == [0, 1] && diff.keptPipelines.map(\.new) == [0, 1])
        #expect(
            diff.workerChanges.allSatisfy { if case .keeps = $0.change { true } else { false } })
    }

    @Test func losingAWorkerRetiresItsPipelineAndKeepsTheOther() throws {
        let (old, workers) = try twoPipelinePlan()
        let model = Fixtures.uniformModel(layers: 8)
        var survivors = workers.filter { $0.id != "a" }
        survivors.append(Fixtures.worker("e", memory: 900, bytesPerSecond: 1800))
        let new = try Placement.solve(model: model, workers: survivors, links: Fixtures.links)
        let diff = PlanDiff(from: old, to: new)
        #expect(!diff.isEmpty)
        #expect(diff.retiredPipelines.contains(0))
        let changes = Dictionary(
            uniqueKeysWithValues: diff.workerChanges.map { ($0.workerID, $0.change) })
        #expect(changes["a"] == .releases(old.stage(of: "a")!.stage.layers))
        if let stage = new.stage(of: "e")?.stage { #expect(changes["e"] == .loads(stage.layers)) }
        // Every worker in either plan is accounted for exactly once.
        #expect(Set(changes.keys) == old.usedWorkerIDs.union(new.usedWorkerIDs))
    }
}

@Suite struct PlanRenderingTests {
    @Test func tableListsEveryStageAndTotals() throws {
        let (plan, _) = try twoPipelinePlan()
        let text = PlanTable.render(plan)
        let lines = text.split(separator: "\n")
        // Header, one row per stage, one total per pipeline, summary.
        let stageCount = plan.pipelines.reduce(0) { $0 + $1.stages.count }
        #expect(lines.count == 1 + stageCount + plan.pipelines.count + 1)
        #expect(lines[0].hasPrefix("pipeline"))
        for stage in plan.pipelines.flatMap(\.stages) {
            #expect(text.contains(stage.workerID))
            #expect(text.contains("\(stage.layers.lowerBound)-\(stage.layers.upperBound - 1)"))
        }
        #expect(text.contains("ms/token"))
        #expect(text.contains("proven optimal"))
    }

    @Test func byteSizesAreHumanReadable() {
        #expect(PlanTable.bytesForDisplay(512) == "512 B")
        #expect(PlanTable.bytesForDisplay(3 * 1_073_741_824 / 2) == "1.50 GiB")
    }
}

@Suite struct PredictionTests {
    @Test func predictMatchesTheSolversOwnNumbers() throws {
        let (plan, workers) = try twoPipelinePlan()
        for pipeline in plan.pipelines {
            let again = Placement.predict(
                stages: pipeline.stages.map { ($0.workerID, $0.layers) },
                model: Fixtures.uniformModel(layers: 8),
                workers: workers, links: Fixtures.links)
            #expect(again == pipeline)
        }
        #expect(
            Placement.predict(
                stages: [("a", 0..<3), ("b", 4..<8)], model: Fixtures.uniformModel(layers: 8),
                workers: workers) == nil)
    }

    @Test func denseDecoderSizesLookLikeLlama() {
        let model = SyntheticCluster.largeModel()
        #expect(model.layers.count == 80)
        // About 856 M parameters per block at 4.5 bits: ~0.48 GB.
        #expect(abs(Double(model.layers[0].weightBytes) / 1e9 - 0.4816) < 0.01)
        #expect(model.layers[0].kvBytesPerToken == 4096)
        #expect(model.activationBytesPerToken == 16384)
    }
}

@Suite struct LinkEstimatorTests {
    let configured = Link(latencySeconds: 0.0005, bytesPerSecond: 1_000_000)

    @Test func aPairIsMeasuredAfterEnoughHops() {
        var estimator = LinkEstimator(window: 32, minimumSamples: 8)
        for _ in 0..<7 {
            estimator.observe(from: "a", to: "b", roundTripSeconds: 0.010, bytes: 2000)
        }
        #expect(estimator.link(from: "a", to: "b", configured: configured) == nil)
        estimator.observe(from: "a", to: "b", roundTripSeconds: 0.010, bytes: 2000)
        let link = estimator.link(from: "a", to: "b", configured: configured)
        // One way: 5 ms, of which 2000 B at 1 MB/s is 2 ms transfer: 3 ms latency.
        #expect(abs((link?.latencySeconds ?? 0) - 0.003) < 1e-12)
        #expect(link?.bytesPerSecond == configured.bytesPerSecond)
        #expect(estimator.link(from: "b", to: "a", configured: configured) == nil)  // directed
    }

    @Test func outliersDoNotMoveTheMedianAndTheModelUsesIt() {
        var estimator = LinkEstimator()
        for index in 0..<16 {
            estimator.observe(
                from: "a", to: "b", roundTripSeconds: index % 5 == 0 ? 1 : 0.004, bytes: 0)
        }
        let model = estimator.applied(to: LinkModel.uniform(configured))
        #expect(abs(model.link(from: "a", to: "b").latencySeconds - 0.002) < 1e-12)
        #expect(model.link(from: "b", to: "a") == configured)
        estimator.keep(only: ["b"])
        #expect(
            estimator.applied(to: LinkModel.uniform(configured)).link(from: "a", to: "b")
                == configured)
    }
}
