import Placement

// A model's quality budget travels as `QualityBudget` (cache_manager.proto); inside, it is
// Placement's `QualityBudgetSetting`. This is the only place the two forms meet.
extension Tessera_V1_QualityBudget {
    public init(_ setting: QualityBudgetSetting) {
        self.init()
        maxMeanKl = setting.maxMeanKL
        variants = setting.variants.map { entry in
            .with {
                $0.variant = entry.variant
                $0.variantSha256 = entry.variantSHA256
                $0.evaluationTokens = UInt32(clamping: entry.evaluationTokens)
                $0.ranges = entry.ranges.map { range in
                    .with {
                        $0.layers = Tessera_V1_LayerRange(range.layers)
                        $0.meanKl = range.meanKLDivergence
                    }
                }
            }
        }
    }

    /// The setting, or `InvalidMessage` naming the field that cannot be one: the limit must
    /// be a finite KL of at least 0; each variant needs a name and its SHA-256; each range
    /// must be non-empty with a finite KL of at least 0.
    public func domain(field: String = "budget") throws -> QualityBudgetSetting {
        guard maxMeanKl.isFinite, maxMeanKl >= 0 else {
            throw InvalidMessage(
                "\(field).max_mean_kl", "must be a finite KL divergence of at least 0")
        }
        var settings: [VariantSensitivity] = []
        for (index, entry) in variants.enumerated() {
            let name = "\(field).variants[\(index)]"
            guard !entry.variant.isEmpty else {
                throw InvalidMessage("\(name).variant", "is required")
            }
            guard !entry.variantSha256.isEmpty else {
                throw InvalidMessage("\(name).variant_sha256", "is required")
            }
            var ranges: [RangeSensitivity] = []
            for (rangeIndex, range) in entry.ranges.enumerated() {
                guard let layers = range.layers.range, !layers.isEmpty else {
                    throw InvalidMessage(
                        "\(name).ranges[\(rangeIndex)].layers", "must be a non-empty range")
                }
                guard range.meanKl.isFinite, range.meanKl >= 0 else {
                    throw InvalidMessage(
                        "\(name).ranges[\(rangeIndex)].mean_kl",
                        "must be a finite KL divergence of at least 0")
                }
                ranges.append(RangeSensitivity(layers: layers, meanKLDivergence: range.meanKl))
            }
            settings.append(
                VariantSensitivity(
                    variant: entry.variant, variantSHA256: entry.variantSha256,
                    evaluationTokens: Int(entry.evaluationTokens), ranges: ranges))
        }
        return QualityBudgetSetting(maxMeanKL: maxMeanKl, variants: settings)
    }
}
