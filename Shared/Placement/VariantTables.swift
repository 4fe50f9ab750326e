/// One placement instance with variants: the cost tables of the reference (index 0) and of
/// each affordable variant (same worker order), each variant's predicted KL for every range,
/// and the tables of the lower envelope (per layer the cheapest form), which the bounds and
/// the memory checks use so that they stay admissible whatever variant a stage picks.
struct VariantTables {
    /// tables[0] is the reference; tables[v] runs variant names[v].
    private(set) var tables: [CostTables]
    /// nil for the reference.
    let names: [String?]
    private(set) var envelope: CostTables
    /// kl[v][b * (L + 1) + e]: predicted KL of running [b, e) on form v (0 for the reference).
    let kl: [[Double]]
    let maxMeanKL: Double
    var layerCount: Int { envelope.layerCount }

    /// nil when no variant could run any stage within the budget: the plan is then exactly
    /// the one without a budget.
    init?(
        model: ModelProfile, quality: QualityBudget?, workers: [WorkerProfile], links: LinkModel,
        options: PlacementOptions
    ) {
        guard let quality else { return nil }
        // Stages hand each other hidden states of the reference's width: a variant of
        // another shape cannot be chained with it.
        let variants = quality.affordableVariants.filter {
            $0.profile.layers.count == model.layers.count
                && $0.profile.activationBytesPerToken == model.activationBytesPerToken
        }
        if variants.isEmpty { return nil }
        self.init(
            model: model, variants: variants, maxMeanKL: quality.maxMeanKL, workers: workers,
            links: links, options: options)
    }

    /// Tables for exactly these variants (a layout being re-predicted may name one the
    /// budget no longer affords).
    init(
        model: ModelProfile, variants: [ModelVariant], maxMeanKL: Double,
        workers: [WorkerProfile], links: LinkModel, options: PlacementOptions
    ) {
        let profiles = [model] + variants.map(\.profile)
        tables = profiles.map {
            CostTables(model: $0, workers: workers, links: links, options: options)
        }
        names = [nil] + variants.map(\.name)
        envelope = CostTables(
            model: ModelProfile.lowerEnvelope(of: profiles), workers: workers, links: links,
            options: options)
        let layers = model.layers.count
        var costs: [[Double]] = [[Double](repeating: 0, count: (layers + 1) * (layers + 1))]
        for variant in variants {
            var row = [Double](repeating: .infinity, count: (layers + 1) * (layers + 1))
            for b in 0..<layers {
                for e in (b + 1)...layers { row[b * (layers + 1) + e] = variant.predictedKL(b..<e) }
            }
            costs.append(row)
        }
        kl = costs
        self.maxMeanKL = maxMeanKL
    }

    var formCount: Int { tables.count }

    @inline(__always)
    func predictedKL(_ form: Int, _ b: Int, _ e: Int) -> Double {
        kl[form][b * (layerCount + 1) + e]
    }

    /// The same instance over a subset of the workers (indices in id order).
    func restricted(to keep: [Int]) -> VariantTables {
        var copy = self
        copy.tables = tables.map { $0.restricted(to: keep) }
        copy.envelope = envelope.restricted(to: keep)
        return copy
    }
}

extension ModelProfile {
    /// Per layer (and for the embedding and head) the cheapest of `profiles` in every cost:
    /// any stage of any of them needs at least this memory and time. Tied bytes are set so
    /// that embedding + head − tied is the smallest that sum is in any of them.
    static func lowerEnvelope(of profiles: [ModelProfile]) -> ModelProfile {
        var result = profiles[0]
        for profile in profiles.dropFirst() {
            for (index, layer) in profile.layers.enumerated() {
                result.layers[index].weightBytes = min(
                    result.layers[index].weightBytes, layer.weightBytes)
                result.layers[index].flopsPerToken = min(
                    result.layers[index].flopsPerToken, layer.flopsPerToken)
                result.layers[index].kvBytesPerToken = min(
                    result.layers[index].kvBytesPerToken, layer.kvBytesPerToken)
            }
            result.embedding = result.embedding.cheapest(with: profile.embedding)
            result.outputHead = result.outputHead.cheapest(with: profile.outputHead)
            result.activationBytesPerToken = min(
                result.activationBytesPerToken, profile.activationBytesPerToken)
            result.ingressBytesPerToken = min(
                result.ingressBytesPerToken, profile.ingressBytesPerToken)
            result.egressBytesPerToken = min(
                result.egressBytesPerToken, profile.egressBytesPerToken)
        }
        let bothExtras = profiles.map {
            $0.embedding.weightBytes + $0.outputHead.weightBytes - $0.tiedEmbeddingBytes
        }.min()!
        result.tiedEmbeddingBytes = max(
            0, result.embedding.weightBytes + result.outputHead.weightBytes - bothExtras)
        return result
    }
}

extension StageExtra {
    fileprivate func cheapest(with other: StageExtra) -> StageExtra {
        StageExtra(
            weightBytes: min(weightBytes, other.weightBytes),
            bytesReadPerToken: min(bytesReadPerToken, other.bytesReadPerToken),
            flopsPerToken: min(flopsPerToken, other.flopsPerToken))
    }
}
