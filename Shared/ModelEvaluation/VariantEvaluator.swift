import Foundation
import GGUF
import Inference
import Tokenization

/// A model file to evaluate and the name of its row.
public struct EvaluatedModel: Sendable {
    public var label: String
    public var path: String

    public init(label: String, path: String) {
        self.label = label
        self.path = path
    }
}

public struct EvaluationOptions: Sendable {
    /// Window length of the perplexity run (llama-perplexity's n_ctx).
    public var contextLength = 512
    /// Evaluation tokens to run, rounded down to whole windows.
    public var evaluationTokens = 4096
    public var threads = ProcessInfo.processInfo.activeProcessorCount
    public var text: EvaluationText
    /// Speed: a prompt of this many evaluation tokens, then this many greedy decode steps.
    public var speedPromptTokens = 128
    public var speedDecodeTokens = 32
    /// Rounds of speed measurement over all models, interleaved: prefill is a model's best
    /// round, decode the step time at `decodeStepPercentile` of all its rounds' steps.
    public var speedRounds = 5
    public var decodeStepPercentile = 0.2

    public init(text: EvaluationText) { self.text = text }
}

/// Measures every model against the reference on the evaluation text: first each model alone
/// (resident memory, questions), then all of them loaded together: speed in interleaved
/// rounds, quality window by window.
public enum VariantEvaluator {
    public static func evaluate(
        reference: EvaluatedModel, variants: [EvaluatedModel], options: EvaluationOptions,
        progress: (_ fraction: Double, _ message: String) -> Void = { _, _ in }
    ) throws -> EvaluationReport {
        let models = [reference] + variants
        let tokenizer = try Tokenizer(gguf: GGUFFile(path: reference.path))
        let windows = try PerplexityWindows(
            text: options.text, tokenizer: tokenizer, options: options)
        let questions = try QuestionSet.builtIn()
        let prompt = Array(windows.windows[0].prefix(options.speedPromptTokens))

        // Alone: one model loaded at a time, so its resident memory is its own.
        var rows: [EvaluationRow] = []
        let aloneShare = 0.3
        for (index, model) in models.enumerated() {
            progress(aloneShare * Double(index) / Double(models.count), "loading \(model.label)")
            rows.append(
                try loadAlone(
                    model, tokenizer: tokenizer, prompt: prompt, questions: questions,
                    options: options))
        }

        // Together: every model mapped. Speed in interleaved rounds, so a burst of other work
        // on the machine slows one round, not one model.
        var stages: [TransformerStage] = []
        for model in models {
            let stage = try TransformerStage(path: model.path, threads: options.threads)
            guard
                stage.hyperparameters.vocabularySize == stages.first?.hyperparameters.vocabularySize
                    ?? stage.hyperparameters.vocabularySize
            else {
                throw EvaluationError.differentVocabulary(model.path)
            }
            stages.append(stage)
        }
        let speedShare = 0.15
        var prefillSeconds = [Double](repeating: .infinity, count: stages.count)
        var decodeSteps = [[Double]](repeating: [], count: stages.count)
        for round in 0..<options.speedRounds {
            for (index, stage) in stages.enumerated() {
                let fraction =
                    Double(round * stages.count + index)
                    / Double(options.speedRounds * stages.count)
                progress(aloneShare + speedShare * fraction, "speed")
                let speed = try ServingSpeed.measure(
                    stage, prompt: prompt, decodeTokens: options.speedDecodeTokens)
                prefillSeconds[index] = min(prefillSeconds[index], speed.prefillSeconds)
                decodeSteps[index] += speed.decodeStepSeconds
            }
        }
        for index in rows.indices {
            rows[index].prefillTokensPerSecond = Double(prompt.count) / prefillSeconds[index]
            rows[index].decodeTokensPerSecond =
                1 / ServingSpeed.percentile(decodeSteps[index], options.decodeStepPercentile)
        }

        // Quality: the reference computed once per window, every model against it.
        let start = aloneShare + speedShare
        let scores = try QualityEvaluation.run(
            reference: stages[0], models: Array(stages.dropFirst()), windows: windows
        ) { fraction in
            progress(start + (1 - start) * fraction, "quality")
        }
        for (index, score) in ([scores.reference] + scores.models).enumerated() {
            rows[index].perplexity = score.perplexity
            rows[index].meanKLDivergence = score.meanKLDivergence
            rows[index].sameTopTokenRate = score.sameTopTokenRate
        }
        progress(1, "done")
        return EvaluationReport(
            rows: rows, textPath: options.text.path, contextLength: options.contextLength,
            evaluationTokens: windows.tokenCount, scoredTokens: windows.scoredTokenCount,
            threads: options.threads)
    }

    /// Loads one model alone: its resident memory after serving a prompt and decoding from
    /// it, and its answers to the questions.
    private static func loadAlone(
        _ model: EvaluatedModel, tokenizer: Tokenizer, prompt: [Int32], questions: QuestionSet,
        options: EvaluationOptions
    ) throws -> EvaluationRow {
        let fileBytes =
            try FileManager.default.attributesOfItem(atPath: model.path)[.size] as? Int ?? 0
        let residentBefore = ProcessMetrics.residentBytes()
        let stage = try TransformerStage(path: model.path, threads: options.threads)
        _ = try ServingSpeed.measure(stage, prompt: prompt, decodeTokens: options.speedDecodeTokens)
        let resident = ProcessMetrics.residentBytes() - residentBefore
        let answered = try questions.answeredCount(stage: stage, tokenizer: tokenizer)
        return EvaluationRow(
            label: model.label, path: model.path, fileBytes: fileBytes, residentBytes: resident,
            prefillTokensPerSecond: 0, decodeTokensPerSecond: 0, perplexity: .nan,
            meanKLDivergence: .nan, sameTopTokenRate: .nan, questionsAnswered: answered,
            questionCount: questions.questions.count)
    }
}

public enum EvaluationError: Error, CustomStringConvertible {
    case differentVocabulary(String)
    case incompleteChain

    public var description: String {
        switch self {
        case .differentVocabulary(let path):
            "\(path) has another vocabulary than the reference model: its distributions cannot be compared"
        case .incompleteChain:
            "a chain of stages must cover the model's layers from the first to the last, without gaps"
        }
    }
}
