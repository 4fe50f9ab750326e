import Placement
import Testing

@Suite struct FeasibilityTests {
    @Test func totalMemoryShortfallIsReportedInBytes() {
        let model = Fixtures.uniformModel(layers: 4)
        let workers = [Fixtures.worker("a", memory: 150), Fixtures.worker("b", memory: 150)]
        #expect(throws: PlacementError.insufficientMemory(neededBytes: 400, availableBytes: 300)) {
            try Placement.solve(model: model, workers: workers, links: Fixtures.links)
        }
        let error = PlacementError.insufficientMemory(neededBytes: 400, availableBytes: 300)
        #expect(error.shortByBytes == 100)
        #expect(error.description.contains("short by 100 bytes"))
    }

    @Test func aLayerTooBigForEveryWorkerIsNamed() {
        var model = Fixtures.uniformModel(layers: 3)
        model.layers[1].weightBytes = 500
        let workers = [Fixtures.worker("a", memory: 300), Fixtures.worker("b", memory: 450)]
        #expect(throws: PlacementError.layerTooLarge(layer: 1, neededBytes: 500, budgetBytes: 450))
        {
            try Placement.solve(model: model, workers: workers, links: Fixtures.links)
        }
    }

    @Test func kvReservationCountsTowardsMemory() {
        // 100 weight bytes + 10 bytes/token × 8 tokens × 2 sessions = 260 per layer.
        let model = Fixtures.uniformModel(layers: 1, kvBytesPerToken: 10)
        let options = PlacementOptions(contextLength: 8)
        let tight = [Fixtures.worker("a", memory: 259, sessions: 2)]
        #expect(throws: PlacementError.layerTooLarge(layer: 0, neededBytes: 260, budgetBytes: 259))
        {
            try Placement.solve(
                model: model, workers: tight, links: Fixtures.links, options: options)
        }
        let plan = try? Placement.solve(
            model: model, workers: [Fixtures.worker("a", memory: 260, sessions: 2)],
            links: Fixtures.links,
            options: options)
        #expect(plan?.primary.stages.first?.kvReserveBytes == 160)
    }

    @Test func fragmentedMemoryIsExplained() {
        // 380 bytes for a 300-byte model, but each worker holds a single 100-byte layer.
        let model = Fixtures.uniformModel(layers: 3)
        let workers = [Fixtures.worker("a", memory: 190), Fixtures.worker("b", memory: 190)]
        #expect(throws: PlacementError.fragmented(workersUsable: 2, layers: 3)) {
            try Placement.solve(model: model, workers: workers, links: Fixtures.links)
        }
    }

    @Test func malformedInputIsRejected() {
        let model = Fixtures.uniformModel(layers: 2)
        #expect(throws: PlacementError.noWorkers) { try Placement.solve(model: model, workers: []) }
        #expect(throws: PlacementError.self) {
            try Placement.solve(
                model: model,
                workers: [Fixtures.worker("a", memory: 500), Fixtures.worker("a", memory: 500)])
        }
        #expect(throws: PlacementError.self) {
            try Placement.solve(
                model: Fixtures.uniformModel(layers: 0), workers: [Fixtures.worker("a", memory: 9)])
        }
        #expect(throws: PlacementError.self) {
            try Placement.solve(
                model: model, workers: [Fixtures.worker("a", memory: 500, bytesPerSecond: 0)])
        }
    }

    @Test func aWorkerTooSmallForAnyLayerIsNeverUsed() throws {
        let model = Fixtures.uniformModel(layers: 6)
        let workers = [
            Fixtures.worker("tiny-but-fast", memory: 99, bytesPerSecond: 1e9),
            Fixtures.worker("a", memory: 400), Fixtures.worker("b", memory: 400),
        ]
        let plan = try Placement.solve(model: model, workers: workers, links: Fixtures.links)
        #expect(!plan.usedWorkerIDs.contains("tiny-but-fast"))
        #expect(plan.primary.stages.count == 2)
    }

    @Test func fasterWorkersGetMoreLayers() throws {
        // Both hold 7 of 10 layers; the fast one should take all 7 it can.
        let model = Fixtures.uniformModel(layers: 10)
        let workers = [
            Fixtures.worker("slow", memory: 700, bytesPerSecond: 1000),
            Fixtures.worker("fast", memory: 700, bytesPerSecond: 4000),
        ]
        let plan = try Placement.solve(model: model, workers: workers, links: Fixtures.links)
        #expect(Fixtures.layerCounts(plan.primary) == ["fast": 7, "slow": 3])
        // Predicted: 7 × 100 / 4000 + 3 × 100 / 1000 + one hop + gateway in and out.
        let hop = 0.001 + 16.0 / 1_000_000
        let gateway = 2 * (0.001 + 4.0 / 1_000_000)
        #expect(abs(plan.primary.secondsPerToken - (0.175 + 0.3 + hop + gateway)) < 1e-12)
    }

    @Test func memoryLimitsForceSplitsAndAreRespected() throws {
        let model = Fixtures.uniformModel(layers: 12)
        let workers = (0..<6).map { Fixtures.worker("w\($0)", memory: 250 + 50 * $0) }
        let plan = try Placement.solve(
            model: model, workers: workers, links: Fixtures.links,
            options: PlacementOptions(maxPipelines: 1))
        #expect(plan.primary.stages.count >= 3)
        for stage in plan.primary.stages {
            let budget = workers.first { $0.id == stage.workerID }!.memoryBudgetBytes
            #expect(stage.shardBytes + stage.kvReserveBytes <= budget)
        }
        #expect(plan.primary.stages.map(\.layers.count).reduce(0, +) == 12)
    }

    @Test func linkCostCanOutweighASlightlyFasterWorker() throws {
        // a+b share a fast link; c is a bit faster than b but far away.
        let model = Fixtures.uniformModel(layers: 4)
        let workers = [
            Fixtures.worker("a", memory: 250), Fixtures.worker("b", memory: 250),
            Fixtures.worker("c", memory: 250, bytesPerSecond: 1100),
        ]
        var links = LinkModel(defaultLink: Link(latencySeconds: 0.5, bytesPerSecond: 1e9))
        links.setLink(Link(latencySeconds: 0.001, bytesPerSecond: 1e9), from: "a", to: "b")
        let plan = try Placement.solve(
            model: model, workers: workers, links: links, options: PlacementOptions(maxPipelines: 1)
        )
        #expect(Set(plan.primary.workerIDs) == ["a", "b"])
    }

    @Test func busyWorkersAreAvoided() throws {
        let model = Fixtures.uniformModel(layers: 4)
        let workers = [
            Fixtures.worker("busy", memory: 400, active: 3), Fixtures.worker("idle", memory: 400),
        ]
        let plan = try Placement.solve(
            model: model, workers: workers, links: Fixtures.links,
            options: PlacementOptions(maxPipelines: 1))
        #expect(plan.primary.workerIDs == ["idle"])
    }

    @Test func tiedEmbeddingsAreStoredOnceOnASingleStage() throws {
        let model = ModelProfile(
            layers: [LayerCost(weightBytes: 100, flopsPerToken: 0, kvBytesPerToken: 0)],
            embedding: StageExtra(weightBytes: 50, bytesReadPerToken: 1),
            outputHead: StageExtra(weightBytes: 60), tiedEmbeddingBytes: 50,
            activationBytesPerToken: 8)
        let plan = try Placement.solve(model: model, workers: [Fixtures.worker("a", memory: 160)])
        #expect(plan.primary.stages[0].shardBytes == 160)
        #expect(plan.primary.stages[0].hostsEmbedding && plan.primary.stages[0].hostsOutputHead)
    }

    @Test func aTinySearchBudgetStillGivesAFeasiblePlanButSaysSo() throws {
        // Sixteen small workers, each holding 3 of 20 layers, uneven speeds and links.
        var rng = SeededGenerator(seed: 11)
        let model = Fixtures.uniformModel(layers: 20)
        let workers = (0..<16).map {
            Fixtures.worker(
                "w\($0)", memory: 300,
                bytesPerSecond: Double(Int.random(in: 900...1100, using: &rng)))
        }
        var links = Fixtures.links
        for a in workers {
            for b in workers where a.id != b.id {
                let latency = Double(Int.random(in: 1...30, using: &rng)) / 1000
                links.setLink(
                    Link(latencySeconds: latency, bytesPerSecond: 1e6), from: a.id, to: b.id,
                    symmetric: false)
            }
        }
        var options = PlacementOptions(maxPipelines: 1)
        options.maxSearchNodes = 3
        do {
            let plan = try Placement.solve(
                model: model, workers: workers, links: links, options: options)
            let proven = plan.provenOptimal
            #expect(!proven)
            #expect(plan.primaryLowerBoundSeconds <= plan.primary.secondsPerToken)
        } catch let error as PlacementError {
            #expect(error == .searchBudgetExhausted(nodes: 3))
        }
        options.maxSearchNodes = 2_000_000
        let full = try Placement.solve(
            model: model, workers: workers, links: links, options: options)
        let proven = full.provenOptimal
        #expect(proven)
        #expect(full.primary.stages.count == 7)
    }
}

@Suite struct BudgetTests {
    /// The budget covers the whole plan: when replicas would exceed it, planning stops and
    /// says the plan is not proven, but what it has is feasible.
    @Test func theBudgetCoversTheWholePlan() throws {
        let scenario = SyntheticCluster.edge(
            workerCount: 64, linkStyle: .randomPairs, hardware: .small, seed: 1)
        var options = scenario.options
        let full = try Placement.solve(
            model: scenario.model, workers: scenario.workers, links: scenario.links,
            options: options)
        #expect(full.provenOptimal && full.pipelines.count > 2)
        options.maxSearchNodes = full.searchNodes / 2
        let cut = try Placement.solve(
            model: scenario.model, workers: scenario.workers, links: scenario.links,
            options: options)
        #expect(!cut.provenOptimal)
        #expect(cut.searchNodes <= options.maxSearchNodes)
        #expect(cut.pipelines.count < full.pipelines.count)
        #expect(cut.primary == full.primary || cut.pipelines.count == 1)
    }
}
