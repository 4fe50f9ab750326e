/// One variant's measured sensitivity, as the catalog keeps it: per-range KL measured on
/// one file (by its SHA-256) over so many evaluation tokens.
public struct VariantSensitivity: Sendable, Hashable, Codable {
    /// The variant's catalog name (e.g. `smollm2-135m:q4_0`).
    public var variant: String
    public var variantSHA256: String
    public var evaluationTokens: Int
    public var ranges: [RangeSensitivity]

    public init(
        variant: String, variantSHA256: String, evaluationTokens: Int, ranges: [RangeSensitivity]
    ) {
        self.variant = variant
        self.variantSHA256 = variantSHA256
        self.evaluationTokens = evaluationTokens
        self.ranges = ranges
    }
}

/// A model's quality budget as the operator sets it and the catalog keeps it: the KL limit
/// and the allowed variants' sensitivities, without their costs (the scheduler pairs them
/// with the variants' profiles into a `QualityBudget`).
public struct QualityBudgetSetting: Sendable, Hashable, Codable {
    public var maxMeanKL: Double
    public var variants: [VariantSensitivity]

    public init(maxMeanKL: Double, variants: [VariantSensitivity]) {
        self.maxMeanKL = maxMeanKL
        self.variants = variants
    }

    /// The budget the optimizer plans with, given each variant's profile by name; a variant
    /// without a profile (not in the catalog any more) is left out.
    public func budget(profiles: [String: ModelProfile]) -> QualityBudget {
        QualityBudget(
            maxMeanKL: maxMeanKL,
            variants: variants.compactMap { entry in
                profiles[entry.variant].map {
                    ModelVariant(name: entry.variant, profile: $0, sensitivity: entry.ranges)
                }
            })
    }
}
