import Placement
import Testing

/// Placement with variants under a quality budget (issue 13): hand-checked cases, the
/// budget-free plan when no variant is affordable, and brute force on random instances.
@Suite struct VariantPlacementTests {
    /// 4 blocks of 100 bytes; the variant stores each in 40, measured in ranges of 2 layers
    /// at KL 0.02 each.
    static let model = Fixtures.uniformModel(layers: 4)
    static let q4 = ModelVariant(
        name: "m:q4_0", profile: Fixtures.uniformModel(layers: 4, bytes: 40),
        sensitivity: [
            RangeSensitivity(layers: 0..<2, meanKLDivergence: 0.02),
            RangeSensitivity(layers: 2..<4, meanKLDivergence: 0.02),
        ])
    /// "big" holds two blocks at full precision; "small" only one (or two of the variant).
    static let workers = [
        Fixtures.worker("big", memory: 200), Fixtures.worker("small", memory: 100),
    ]

    @Test func memoryPoorWorkerRunsItsRangeOnTheVariantWhenTheBudgetAllows() throws {
        // Without a budget the two workers cannot hold the model (300 of 400 bytes).
        #expect(throws: PlacementError.self) {
            try Placement.solve(model: Self.model, workers: Self.workers, links: Fixtures.links)
        }
        // 0.03 affords one range: small runs two layers on the variant (80 bytes), big the
        // other two as they are (which two is a tie: both orders cost the same).
        let plan = try Placement.solve(
            model: Self.model, workers: Self.workers, links: Fixtures.links,
            quality: QualityBudget(maxMeanKL: 0.03, variants: [Self.q4]))
        let byWorker = Dictionary(
            uniqueKeysWithValues: plan.primary.stages.map { ($0.workerID, $0) })
        let small = try #require(byWorker["small"])
        let big = try #require(byWorker["big"])
        #expect(small.variant == "m:q4_0" && small.layers.count == 2 && small.shardBytes == 80)
        #expect(big.variant == nil && big.layers.count == 2 && big.shardBytes == 200)
        #expect(close(plan.primary.predictedKL, 0.02))
        #expect(plan.provenOptimal)
        // 0.01 affords no range: infeasible again, as without a budget.
        #expect(throws: PlacementError.self) {
            try Placement.solve(
                model: Self.model, workers: Self.workers, links: Fixtures.links,
                quality: QualityBudget(maxMeanKL: 0.01, variants: [Self.q4]))
        }
    }

    @Test func aStageTouchingPartOfARangeIsChargedTheWholeRange() {
        #expect(close(Self.q4.predictedKL(1..<2), 0.02))
        #expect(close(Self.q4.predictedKL(1..<3), 0.04))
        #expect(close(Self.q4.predictedKL(0..<4), 0.04))
        let partial = ModelVariant(
            name: "p", profile: Self.q4.profile, sensitivity: [Self.q4.sensitivity[0]])
        #expect(partial.predictedKL(1..<3) == .infinity)
    }

    @Test func aVariantAlsoSpeedsUpAPipelineWithinTheBudget() throws {
        // One roomy worker: the reference reads 400 bytes a token, the variant 160. Both
        // ranges (0.04) fit a budget of 0.05, so the whole model runs on the variant.
        let roomy = [Fixtures.worker("a", memory: 1000)]
        let plain = try Placement.solve(model: Self.model, workers: roomy, links: Fixtures.links)
        let mixed = try Placement.solve(
            model: Self.model, workers: roomy, links: Fixtures.links,
            quality: QualityBudget(maxMeanKL: 0.05, variants: [Self.q4]))
        #expect(mixed.primary.stages.map(\.variant) == ["m:q4_0"])
        #expect(
            close(
                plain.primary.secondsPerToken - mixed.primary.secondsPerToken, (400 - 160) / 1000))
    }

    @Test(arguments: 0..<2)
    func budgetZeroGivesTheSamePlanAsNoBudget(batch: Int) throws {
        var compared = 0
        for seed in UInt64(batch * 100)..<UInt64(batch * 100 + 100) {
            let instance = randomInstance(seed: seed)
            var quality = randomQuality(for: instance, seed: seed)
            quality.maxMeanKL = 0
            for index in quality.variants.indices {
                for range in quality.variants[index].sensitivity.indices {
                    quality.variants[index].sensitivity[range].meanKLDivergence += 0.01
                }
            }
            let plain = try? Placement.solve(
                model: instance.model, workers: instance.workers, links: instance.links,
                options: instance.options)
            let budgeted = try? Placement.solve(
                model: instance.model, workers: instance.workers, links: instance.links,
                options: instance.options, quality: quality)
            #expect(plain?.pipelines == budgeted?.pipelines, "seed \(seed)")
            if plain != nil { compared += 1 }
        }
        #expect(compared > 20)
    }

    /// The search against every ordered subset × split × form on small random instances.
    @Test(arguments: 0..<4)
    func primaryMatchesBruteForce(batch: Int) throws {
        var feasible = 0
        var usedVariant = 0
        for seed in UInt64(batch * 100)..<UInt64(batch * 100 + 100) {
            let instance = randomInstance(seed: 10_000 + seed, maxWorkers: 4, maxLayers: 6)
            let quality = randomQuality(for: instance, seed: seed)
            let reference = VariantBruteForce(instance: instance, quality: quality).best()
            var options = instance.options
            options.maxPipelines = 1
            do {
                let plan = try Placement.solve(
                    model: instance.model, workers: instance.workers, links: instance.links,
                    options: options, quality: quality)
                guard let reference else {
                    Issue.record("seed \(seed): a plan brute force says is impossible")
                    continue
                }
                feasible += 1
                #expect(plan.provenOptimal, "seed \(seed)")
                #expect(
                    close(plan.primary.secondsPerToken, reference.seconds),
                    "seed \(seed): \(plan.primary.secondsPerToken) vs \(reference.seconds)")
                #expect(
                    plan.primary.predictedKL <= quality.maxMeanKL * (1 + 1e-9), "seed \(seed)")
                if plan.primary.stages.contains(where: { $0.variant != nil }) { usedVariant += 1 }
                // The stages' own numbers agree with an independent re-prediction.
                let again = Placement.predict(
                    stages: plan.primary.stages.map { ($0.workerID, $0.layers, $0.variant) },
                    model: instance.model, quality: quality, workers: instance.workers,
                    links: instance.links, options: options)
                #expect(again.map { close($0.secondsPerToken, reference.seconds) } == true)
            } catch let error as PlacementError {
                #expect(
                    reference == nil,
                    "seed \(seed): \(error) but brute force found \(reference!.seconds)")
            }
        }
        #expect(feasible > 25, "too few feasible instances (\(feasible))")
        #expect(usedVariant > 10, "too few plans use a variant (\(usedVariant))")
    }

    @Test func replicasKeepToTheBudgetAndRepredictionKeepsVariants() throws {
        let workers = (0..<4).map { Fixtures.worker("w\($0)", memory: 200) }
        let quality = QualityBudget(maxMeanKL: 0.02, variants: [Self.q4])
        let plan = try Placement.solve(
            model: Self.model, workers: workers, links: Fixtures.links, quality: quality)
        for pipeline in plan.pipelines {
            #expect(pipeline.predictedKL <= 0.02 + 1e-12)
        }
        let kept = try #require(
            PlanAdoption().repredicted(
                plan, model: Self.model, workers: workers, links: Fixtures.links,
                quality: quality))
        #expect(kept.pipelines == plan.pipelines)
        // Without the budget a layout on variants cannot be kept.
        if plan.pipelines.contains(where: { $0.stages.contains { $0.variant != nil } }) {
            #expect(
                PlanAdoption().repredicted(
                    plan, model: Self.model, workers: workers, links: Fixtures.links) == nil)
        }
    }

    @Test func thePlanTableNamesEachStagesVariant() throws {
        let plan = try Placement.solve(
            model: Self.model, workers: Self.workers, links: Fixtures.links,
            quality: QualityBudget(maxMeanKL: 0.03, variants: [Self.q4]))
        let text = PlanTable.render(plan)
        let lines = text.split(separator: "\n").map(String.init)
        #expect(lines[0].contains("variant") && lines[0].contains("KL"))
        let small = try #require(lines.first { $0.contains("small") })
        let big = try #require(lines.first { $0.contains("big") })
        #expect(small.contains("m:q4_0") && small.contains("0.02"))
        #expect(big.contains(" - ") && !big.contains("m:q4_0"))
        #expect(text.contains("quality budget KL 0.03"))
        // Without a budget the table is as it always was.
        let plain = try Placement.solve(
            model: Self.model, workers: [Fixtures.worker("a", memory: 1000)],
            links: Fixtures.links)
        #expect(!PlanTable.render(plain).contains("variant"))
    }

    @Test func aMalformedBudgetIsRefused() {
        for bad in [-0.1, Double.nan, Double.infinity] {
            #expect(throws: PlacementError.self) {
                try Placement.solve(
                    model: Self.model, workers: Self.workers, links: Fixtures.links,
                    quality: QualityBudget(maxMeanKL: bad, variants: [Self.q4]))
            }
        }
        var short = Self.q4
        short.profile = Fixtures.uniformModel(layers: 3, bytes: 40)
        #expect(throws: PlacementError.self) {
            try Placement.solve(
                model: Self.model, workers: Self.workers, links: Fixtures.links,
                quality: QualityBudget(maxMeanKL: 0.1, variants: [short]))
        }
    }
}
