import Foundation
import GGUF
import Inference
import Tokenization

/// Per-layer sensitivity of one variant: the quality cost of compressing only one layer range
/// at a time (the rest stays the reference), so that the cost of a mixed plan can be predicted
/// by adding its ranges' costs, and that prediction checked against the measured mix.
public struct SensitivityReport: Sendable, Codable {
    public struct RangeCost: Sendable, Codable {
        public var first: Int
        public var end: Int
        public var meanKLDivergence: Double
        public var perplexity: Double
    }

    public struct Check: Sendable, Codable {
        /// Indices into `ranges` compressed in this plan.
        public var compressedRanges: [Int]
        public var predictedKLDivergence: Double
        public var measuredKLDivergence: Double
        public var measuredPerplexity: Double
    }

    public var label: String
    public var referencePerplexity: Double
    public var ranges: [RangeCost]
    /// Every other range compressed, and every range compressed (the whole variant).
    public var alternateMix: Check
    public var allRanges: Check
}

public enum SensitivityAnalysis {
    public static func run(
        reference: EvaluatedModel, variant: EvaluatedModel, rangeSize: Int,
        options: EvaluationOptions, progress: (Double) -> Void = { _ in }
    ) throws -> SensitivityReport {
        let file = try GGUFFile(path: reference.path)
        let layerCount = try ModelHyperparameters(gguf: file).layerCount
        let tokenizer = try Tokenizer(gguf: file)
        let windows = try PerplexityWindows(
            text: options.text, tokenizer: tokenizer, options: options)

        var ranges: [Range<Int>] = []
        var start = 0
        while start < layerCount {
            ranges.append(start..<min(start + max(1, rangeSize), layerCount))
            start += max(1, rangeSize)
        }
        let alternate = Array(stride(from: 0, to: ranges.count, by: 2))
        let plans: [[Int]] = ranges.indices.map { [$0] } + [alternate, Array(ranges.indices)]
        var chains: [any LogitSource] = []
        for plan in plans {
            chains.append(
                try chain(
                    compressing: plan.map { ranges[$0] }, layerCount: layerCount,
                    reference: reference.path, variant: variant.path, threads: options.threads))
        }
        let referenceStage = try TransformerStage(path: reference.path, threads: options.threads)
        let scores = try QualityEvaluation.run(
            reference: referenceStage, models: chains, windows: windows, progress: progress)

        let costs = ranges.enumerated().map { index, range in
            SensitivityReport.RangeCost(
                first: range.lowerBound, end: range.upperBound,
                meanKLDivergence: scores.models[index].meanKLDivergence,
                perplexity: scores.models[index].perplexity)
        }
        func check(_ planIndex: Int) -> SensitivityReport.Check {
            let plan = plans[planIndex]
            return SensitivityReport.Check(
                compressedRanges: plan,
                predictedKLDivergence: plan.reduce(0) { $0 + costs[$1].meanKLDivergence },
                measuredKLDivergence: scores.models[planIndex].meanKLDivergence,
                measuredPerplexity: scores.models[planIndex].perplexity)
        }
        return SensitivityReport(
            label: variant.label, referencePerplexity: scores.reference.perplexity, ranges: costs,
            alternateMix: check(ranges.count), allRanges: check(ranges.count + 1))
    }

    /// Stages covering every layer: the variant's file for the compressed ranges, the
    /// reference's for the rest (consecutive ranges from one file merged into one stage).
    static func chain(
        compressing compressed: [Range<Int>], layerCount: Int, reference: String, variant: String,
        threads: Int
    ) throws -> StageChain {
        var stages: [TransformerStage] = []
        var layer = 0
        while layer < layerCount {
            let fromVariant = compressed.contains { $0.contains(layer) }
            var end = layer + 1
            while end < layerCount
                && compressed.contains(where: { $0.contains(end) }) == fromVariant
            {
                end += 1
            }
            stages.append(
                try TransformerStage(
                    path: fromVariant ? variant : reference, layers: layer..<end, threads: threads))
            layer = end
        }
        return try StageChain(stages)
    }
}
