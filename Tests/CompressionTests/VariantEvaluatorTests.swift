import Foundation
import GGUF
import ModelEvaluation
import Testing

/// The evaluator end to end on the real model, kept short (one window of 128 tokens): a
/// variant that is the reference file itself must cost nothing.
struct VariantEvaluatorTests {
    static let modelPath = ModelLocator.path(forName: ModelLocator.defaultModelName)

    @Test func theReferenceAgainstItselfCostsNothing() throws {
        var options = EvaluationOptions(text: try EvaluationText())
        options.contextLength = 128
        options.evaluationTokens = 128
        options.speedRounds = 1
        options.speedDecodeTokens = 4
        var fractions: [Double] = []
        let report = try VariantEvaluator.evaluate(
            reference: EvaluatedModel(label: "reference", path: Self.modelPath),
            variants: [EvaluatedModel(label: "copy", path: Self.modelPath)], options: options
        ) { fraction, _ in fractions.append(fraction) }
        #expect(report.rows.map(\.label) == ["reference", "copy"])
        #expect(report.evaluationTokens == 128)
        #expect(report.scoredTokens == 63)
        let (reference, copy) = (report.rows[0], report.rows[1])
        #expect(copy.perplexity == reference.perplexity)
        #expect(copy.meanKLDivergence == 0)
        #expect(copy.sameTopTokenRate == 1)
        #expect(copy.questionsAnswered == reference.questionsAnswered)
        #expect(copy.questionCount == 20)
        #expect(copy.fileBytes == 98_362_432)
        // The loaded model's weights were read: a good part of them is resident while serving
        // (the packed kernels' copies replace the mapped rows, whose pages are reclaimed, so
        // a delta around a load that maps the same file again counts less than the file).
        // The copies are mappings of their own: in a process where earlier tests freed
        // models, heap copies reused their still-resident pages and counted almost nothing.
        #expect(reference.residentBytes > 30_000_000)
        #expect(reference.decodeTokensPerSecond > 0 && reference.prefillTokensPerSecond > 0)
        #expect(fractions.last == 1)
        #expect(zip(fractions, fractions.dropFirst()).allSatisfy { $0 <= $1 })
        let table = EvaluationTable.text(report)
        #expect(table.split(separator: "\n").count == 3)
    }

    @Test func answersMatchWholeWordsOnly() {
        #expect(QuestionSet.matches(reply: "The capital of France is Paris.", answers: ["paris"]))
        #expect(
            QuestionSet.matches(reply: "It's CO2, mostly.", answers: ["carbon dioxide", "co2"]))
        #expect(QuestionSet.matches(reply: "carbon  dioxide!", answers: ["carbon dioxide"]))
        #expect(!QuestionSet.matches(reply: "Parisian cafés", answers: ["paris"]))
        #expect(!QuestionSet.matches(reply: "The answer is 14.", answers: ["4"]))
    }

    @Test func theBuiltInQuestionsLoad() throws {
        let set = try QuestionSet.builtIn()
        #expect(set.questions.count == 20)
        #expect(set.questions.allSatisfy { !$0.answers.isEmpty })
    }

    @Test func theSplitIsFixedAndAtAParagraph() throws {
        let text = try EvaluationText()
        #expect(text.calibration.unicodeScalars.count >= EvaluationText.calibrationCharacters)
        #expect(text.evaluation.hasPrefix("\n\n"))
        #expect(
            text.calibration + text.evaluation
                == (try String(contentsOfFile: text.path, encoding: .utf8)))
    }
}
