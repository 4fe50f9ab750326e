import Placement

/// Reference solver for plans under a quality budget, written from the definitions and
/// sharing no code with the optimizer: every ordered subset of workers, every contiguous
/// split and every form (the model or one of the variants) for every stage; a stage on a
/// variant is charged the KL of every sensitivity range it touches, in full.
struct VariantBruteForce {
    let instance: Instance
    let quality: QualityBudget

    /// The instance with `profile` in place of the model, for `BruteForce`'s stage costs.
    private func costs(_ form: Int) -> BruteForce {
        var copy = instance
        if form > 0 { copy.model = quality.variants[form - 1].profile }
        return BruteForce(instance: copy)
    }

    func stageKL(_ form: Int, _ range: Range<Int>) -> Double {
        guard form > 0 else { return 0 }
        var total = 0.0
        for layer in range {
            let covering = quality.variants[form - 1].sensitivity.filter {
                $0.layers.contains(layer)
            }
            if covering.isEmpty { return .infinity }
        }
        for entry in quality.variants[form - 1].sensitivity
        where entry.layers.lowerBound < range.upperBound
            && range.lowerBound < entry.layers.upperBound
        {
            total += entry.meanKLDivergence
        }
        return total
    }

    /// Fastest pipeline whose KL is within the budget, or nil if none fits.
    func best() -> (seconds: Double, kl: Double, forms: [String?])? {
        let layerCount = instance.model.layers.count
        let forms = 0...quality.variants.count
        let tables = forms.map { costs($0) }
        var bestSeconds = Double.infinity
        var bestKL = 0.0
        var bestForms: [String?] = []
        var used = Set<String>()
        var path: [(worker: WorkerProfile, range: Range<Int>, form: Int)] = []

        func pipelineSeconds() -> Double {
            let links = instance.links
            let model = instance.model
            var total = links.gatewayLink(path[0].worker.id).seconds(
                bytes: model.ingressBytesPerToken)
            for (index, stage) in path.enumerated() {
                total += tables[stage.form].stageSeconds(stage.worker, stage.range)
                total +=
                    index + 1 < path.count
                    ? tables[0].hopSeconds(stage.worker, path[index + 1].worker)
                    : links.gatewayLink(stage.worker.id).seconds(bytes: model.egressBytesPerToken)
            }
            return total
        }

        func extend(from begin: Int, kl: Double) {
            if begin == layerCount {
                let seconds = pipelineSeconds()
                if seconds < bestSeconds {
                    bestSeconds = seconds
                    bestKL = kl
                    bestForms = path.map { $0.form == 0 ? nil : quality.variants[$0.form - 1].name }
                }
                return
            }
            for worker in instance.workers where !used.contains(worker.id) {
                for end in (begin + 1)...layerCount {
                    for form in forms
                    where tables[form].stageMemory(worker, begin..<end) <= worker.memoryBudgetBytes
                    {
                        let total = kl + stageKL(form, begin..<end)
                        if total > quality.maxMeanKL * (1 + 1e-12) { continue }
                        used.insert(worker.id)
                        path.append((worker, begin..<end, form))
                        extend(from: end, kl: total)
                        path.removeLast()
                        used.remove(worker.id)
                    }
                }
            }
        }
        extend(from: 0, kl: 0)
        return bestSeconds.isFinite ? (bestSeconds, bestKL, bestForms) : nil
    }
}

/// One or two random variants of an instance's model: every cost scaled down by a factor
/// of the variant (as quantization does), sensitivities over random ranges, and a budget.
func randomQuality(for instance: Instance, seed: UInt64) -> QualityBudget {
    var rng = SeededGenerator(seed: seed &* 7919 &+ 17)
    let model = instance.model
    let count = Int.random(in: 1...2, using: &rng)
    var variants: [ModelVariant] = []
    for index in 0..<count {
        let scale = Double(Int.random(in: 25...90, using: &rng)) / 100
        func shrink(_ bytes: Int) -> Int { Int((Double(bytes) * scale).rounded(.down)) }
        var profile = model
        for layer in profile.layers.indices {
            profile.layers[layer].weightBytes = shrink(profile.layers[layer].weightBytes)
            if Bool.random(using: &rng) {
                profile.layers[layer].flopsPerToken =
                    (profile.layers[layer].flopsPerToken
                    * scale).rounded()
            }
        }
        if Bool.random(using: &rng) {
            profile.embedding = StageExtra(
                weightBytes: shrink(model.embedding.weightBytes),
                bytesReadPerToken: shrink(model.embedding.bytesReadPerToken),
                flopsPerToken: model.embedding.flopsPerToken)
            profile.outputHead = StageExtra(
                weightBytes: shrink(model.outputHead.weightBytes),
                bytesReadPerToken: shrink(model.outputHead.bytesReadPerToken),
                flopsPerToken: model.outputHead.flopsPerToken)
            profile.tiedEmbeddingBytes =
                model.tiedEmbeddingBytes > 0
                ? min(profile.embedding.weightBytes, profile.outputHead.weightBytes) : 0
        }
        let rangeSize = Int.random(in: 1...3, using: &rng)
        var sensitivity: [RangeSensitivity] = []
        var start = 0
        while start < model.layers.count {
            let end = min(start + rangeSize, model.layers.count)
            // Now and then a range is left unmeasured: its layers cannot run the variant.
            if Int.random(in: 0..<10, using: &rng) > 0 {
                sensitivity.append(
                    RangeSensitivity(
                        layers: start..<end,
                        meanKLDivergence: Double(Int.random(in: 0...100, using: &rng)) / 100))
            }
            start = end
        }
        variants.append(ModelVariant(name: "v\(index)", profile: profile, sensitivity: sensitivity))
    }
    return QualityBudget(
        maxMeanKL: Double(Int.random(in: 0...150, using: &rng)) / 100, variants: variants)
}
