/// Checks of a quality budget before planning with it: a malformed one is refused with the
/// reason, never planned around.
extension PlacementValidation {
    static func validate(quality: QualityBudget?, model: ModelProfile) throws {
        guard let quality else { return }
        func require(_ condition: Bool, _ why: @autoclosure () -> String) throws {
            if !condition { throw PlacementError.invalidInput(why()) }
        }
        try require(
            quality.maxMeanKL >= 0 && quality.maxMeanKL.isFinite,
            "the quality budget must be a finite KL divergence of at least 0")
        var names = Set<String>()
        for variant in quality.variants {
            try require(!variant.name.isEmpty, "a variant has no name")
            try require(names.insert(variant.name).inserted, "variant '\(variant.name)' twice")
            let profile = variant.profile
            try require(
                profile.layers.count == model.layers.count,
                "variant '\(variant.name)' has \(profile.layers.count) layers, the model \(model.layers.count)"
            )
            for layer in profile.layers {
                try require(
                    layer.weightBytes >= 0 && layer.kvBytesPerToken >= 0
                        && layer.flopsPerToken >= 0 && layer.flopsPerToken.isFinite,
                    "variant '\(variant.name)' has a negative or non-finite layer cost")
            }
            for extra in [profile.embedding, profile.outputHead] {
                try require(
                    extra.weightBytes >= 0 && extra.bytesReadPerToken >= 0
                        && extra.flopsPerToken >= 0 && extra.flopsPerToken.isFinite,
                    "variant '\(variant.name)' has a negative or non-finite embedding or head cost"
                )
            }
            try require(
                profile.tiedEmbeddingBytes >= 0
                    && profile.tiedEmbeddingBytes
                        <= min(profile.embedding.weightBytes, profile.outputHead.weightBytes),
                "variant '\(variant.name)': tied bytes must lie between 0 and the embedding and head sizes"
            )
            for range in variant.sensitivity {
                try require(
                    !range.layers.isEmpty && range.layers.lowerBound >= 0
                        && range.layers.upperBound <= model.layers.count,
                    "variant '\(variant.name)': sensitivity range \(range.layers) is empty or outside the model"
                )
                try require(
                    range.meanKLDivergence >= 0 && range.meanKLDivergence.isFinite,
                    "variant '\(variant.name)': a range's KL divergence is negative or not finite")
            }
        }
    }
}
