import Foundation
import GGUF
import Inference
import ModelEvaluation
import Testing
import Tokenization

/// Mixed plans are chains of stages from two files. A chain cut from the reference alone must
/// be the reference (stages chain bit-identically), so every range then costs exactly zero.
struct SensitivityTests {
    static let modelPath = ModelLocator.path(forName: ModelLocator.defaultModelName)

    @Test func aChainOfReferenceStagesIsTheReference() throws {
        let tokens = Array(
            (try Tokenizer(gguf: GGUFFile(path: Self.modelPath))).encode(
                try EvaluationText().evaluation, addSpecial: false
            ).prefix(64))
        let whole = try TransformerStage(path: Self.modelPath, threads: 2)
        let chain = try StageChain([
            TransformerStage(path: Self.modelPath, layers: 0..<7, threads: 2),
            TransformerStage(path: Self.modelPath, layers: 7..<30, threads: 2),
        ])
        #expect(try chain.allLogits(tokens) == whole.allLogits(tokens))
    }

    @Test func aGapInTheChainIsRefused() throws {
        #expect(throws: EvaluationError.self) {
            try StageChain([
                TransformerStage(path: Self.modelPath, layers: 0..<7, threads: 1),
                TransformerStage(path: Self.modelPath, layers: 8..<30, threads: 1),
            ])
        }
    }

    @Test func theReferenceAsItsOwnVariantCostsNothingInEveryRange() throws {
        var options = EvaluationOptions(text: try EvaluationText())
        options.contextLength = 128
        options.evaluationTokens = 128
        let model = EvaluatedModel(label: "same", path: Self.modelPath)
        let report = try SensitivityAnalysis.run(
            reference: model, variant: model, rangeSize: 12, options: options)
        #expect(report.ranges.map { $0.first..<$0.end } == [0..<12, 12..<24, 24..<30])
        #expect(report.ranges.allSatisfy { $0.meanKLDivergence == 0 })
        #expect(report.alternateMix.compressedRanges == [0, 2])
        #expect(report.allRanges.measuredKLDivergence == 0)
        #expect(report.allRanges.measuredPerplexity == report.referencePerplexity)
    }
}
