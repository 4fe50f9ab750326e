/// Measured quality cost of running one layer range on a variant while every other layer
/// stays the reference: mean KL divergence of next-token distributions against the reference
/// (what `tessera eval --sensitivity` measures).
public struct RangeSensitivity: Sendable, Hashable, Codable {
    public var layers: Range<Int>
    public var meanKLDivergence: Double

    public init(layers: Range<Int>, meanKLDivergence: Double) {
        self.layers = layers
        self.meanKLDivergence = meanKLDivergence
    }
}

/// A compressed form of the model that a stage may run instead of the reference: its own
/// per-layer costs (same layer count) and its measured per-range sensitivity.
public struct ModelVariant: Sendable, Hashable, Codable {
    /// The name the variant is served and cut under (e.g. `smollm2-135m:q4_0`).
    public var name: String
    public var profile: ModelProfile
    /// Contiguous ranges; a layer no range covers cannot run on this variant.
    public var sensitivity: [RangeSensitivity]

    public init(name: String, profile: ModelProfile, sensitivity: [RangeSensitivity]) {
        self.name = name
        self.profile = profile
        self.sensitivity = sensitivity
    }

    /// Predicted KL of running layers [b, e) on this variant. Sensitivities are known per
    /// range, not per layer, and the KL inside a range need not be spread evenly (one matrix
    /// can carry all of it), so a stage is charged every range it touches in full: the
    /// prediction never falls below the sum of measured range costs a plan could reach by
    /// splitting ranges. Infinite when a layer is covered by no measured range.
    public func predictedKL(_ layers: Range<Int>) -> Double {
        guard !layers.isEmpty else { return 0 }
        var covered = 0
        var total = 0.0
        for range in sensitivity where range.layers.overlaps(layers) {
            total += range.meanKLDivergence
            covered += range.layers.clamped(to: layers).count
        }
        return covered >= layers.count ? total : .infinity
    }

    /// The cheapest KL any stage on this variant can cost.
    var cheapestKL: Double {
        sensitivity.map(\.meanKLDivergence).min() ?? .infinity
    }
}

/// A model's quality budget: stages may run on these variants as long as each pipeline's
/// predicted KL (the sum over its stages) stays within `maxMeanKL`. Without one (or with a
/// budget no variant fits in), every stage runs the model at its own precision.
public struct QualityBudget: Sendable, Hashable, Codable {
    public var maxMeanKL: Double
    public var variants: [ModelVariant]

    public init(maxMeanKL: Double, variants: [ModelVariant]) {
        self.maxMeanKL = maxMeanKL
        self.variants = variants
    }

    /// Variants some stage could run within the budget.
    var affordableVariants: [ModelVariant] {
        variants.filter { $0.cheapestKL <= maxMeanKL * (1 + 1e-12) }
    }
}
