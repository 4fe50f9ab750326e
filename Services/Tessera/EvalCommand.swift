import ArgumentParser
import Foundation
import GGUF
import Integrity
import ModelCompression
import ModelEvaluation

/// `tessera eval`: what each compact variant of a model costs in quality, size, memory and
/// speed, measured here against the model as given (issue 13; docs/evaluation.md).
struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Measure quantized and pruned variants of a model against it.",
        discussion: """
            Makes each variant locally (kept in ~/.cache/tessera/variants and reused), then \
            measures on GPL-3's fixed evaluation part: perplexity as llama-perplexity computes \
            it, mean KL divergence and same-top-token rate against the model, file size, \
            resident memory, prefill and decode speed, and answers to short questions. \
            Prints the table and writes a PNG chart.
            """)

    @Option(help: "The reference model: a name or a GGUF path.")
    var model = ModelLocator.defaultModelName
    @Option(
        help: ArgumentHelp(
            "Comma-separated variant methods (q8_0, q4_k, wanda50-q4_0, wanda24-q4_0, …) or GGUF paths.",
            discussion: "Default: every quantization type, Wanda 50% Q4_0 and Wanda 2:4 Q4_0."))
    var methods: String?
    @Option(help: "Where to write the PNG chart.")
    var chart = "tessera-eval.png"
    @Option(help: "Also write the report as JSON here.")
    var json: String?
    @Option(help: "Window length of the perplexity run (llama-perplexity's n_ctx).")
    var context = 512
    @Option(help: "Evaluation tokens (whole windows of --context).")
    var tokens = 4096
    @Option(help: "Worker threads.")
    var threads = ProcessInfo.processInfo.activeProcessorCount
    @Option(help: "The evaluation text (its first part calibrates Wanda).")
    var text = EvaluationText.defaultPath
    @Flag(
        help: ArgumentHelp(
            "Per-layer sensitivity instead: each variant's cost with one layer range compressed at a time.",
            discussion: "Default methods: q4_0, q2_k, wanda24-q4_0."))
    var sensitivity = false
    @Option(help: "With --sensitivity: layers per range.")
    var rangeSize = 5

    func validate() throws {
        guard context >= 16 else { throw ValidationError("--context must be at least 16") }
        guard tokens >= context else {
            throw ValidationError("--tokens must be at least --context")
        }
        guard threads > 0 else { throw ValidationError("--threads must be positive") }
        guard rangeSize > 0 else { throw ValidationError("--range-size must be positive") }
    }

    func run() throws {
        let referencePath = try ModelResolution.path(model)
        let evaluationText = try EvaluationText(path: text)
        let entries = try variantEntries()
        let progress = FetchProgressView()
        var variants: [EvaluatedModel] = []
        var fallbackNotes: [String] = []
        var parentSHA256: String?
        for entry in entries {
            switch entry {
            case .file(let path):
                variants.append(EvaluatedModel(label: try Self.label(ofFile: path), path: path))
            case .method(let method):
                if parentSHA256 == nil {
                    parentSHA256 = try FileDigest.sha256Hex(ofFile: referencePath)
                }
                let path = try Self.makeVariant(
                    method, source: referencePath, parentSHA256: parentSHA256!,
                    calibration: evaluationText.calibration, progress: progress)
                variants.append(EvaluatedModel(label: Self.label(of: method), path: path))
            }
            if let note = try Self.fallbackNote(variants.last!) { fallbackNotes.append(note) }
        }

        var options = EvaluationOptions(text: evaluationText)
        options.contextLength = context
        options.evaluationTokens = tokens
        options.threads = threads
        let reference = EvaluatedModel(
            label: Self.referenceLabel(referencePath), path: referencePath)
        if sensitivity {
            try runSensitivity(
                reference: reference, variants: variants, options: options, progress: progress)
            return
        }
        let windows = tokens / context
        FileHandle.standardError.write(
            Data(
                "tessera: evaluating \(variants.count + 1) models on \(windows * context) tokens of \(text) (\(windows) windows of \(context), the second half of each scored), \(threads) threads\n"
                    .utf8))
        let report = try VariantEvaluator.evaluate(
            reference: reference, variants: variants, options: options
        ) { fraction, message in
            progress.update(
                step: "evaluating", fraction: fraction, detail: "\(Int(fraction * 100))% \(message)"
            )
        }
        progress.finishLine()

        print(EvaluationTable.text(report), terminator: "")
        print(
            "\(report.evaluationTokens) evaluation tokens (\(report.scoredTokens) scored), n_ctx \(report.contextLength); KL and same top against \(reference.label); answers: of \(report.rows.first?.questionCount ?? 0) short questions, greedy"
        )
        for note in fallbackNotes { print(note) }
        let title =
            "\(URL(fileURLWithPath: referencePath).deletingPathExtension().lastPathComponent): variants"
        let png = EvaluationChart.png(report, title: title)
        let chartURL = URL(fileURLWithPath: chart)
        try Data(png).write(to: chartURL)
        print("chart: \(chartURL.standardizedFileURL.path)")
        try writeJSON(report)
    }

    private func runSensitivity(
        reference: EvaluatedModel, variants: [EvaluatedModel], options: EvaluationOptions,
        progress: FetchProgressView
    ) throws {
        FileHandle.standardError.write(
            Data(
                "tessera: per-layer sensitivity of \(variants.count) variants, ranges of \(rangeSize) layers, on \(tokens / context * context) tokens\n"
                    .utf8))
        var reports: [SensitivityReport] = []
        for variant in variants {
            let report = try SensitivityAnalysis.run(
                reference: reference, variant: variant, rangeSize: rangeSize, options: options
            ) { fraction in
                progress.update(
                    step: "sensitivity of " + variant.label, fraction: fraction,
                    detail: "\(Int(fraction * 100))%")
            }
            progress.finishLine()
            print(EvalSensitivityOutput.text(report))
            reports.append(report)
        }
        try writeJSON(reports)
    }

    /// With `--json`, writes the report there (non-finite numbers as strings).
    private func writeJSON(_ value: some Encodable) throws {
        guard let json else { return }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(
            positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        try encoder.encode(value).write(to: URL(fileURLWithPath: json))
        print("report: \(json)")
    }

    enum Entry {
        case method(VariantMethod)
        case file(String)
    }

    private func variantEntries() throws -> [Entry] {
        guard let methods else {
            if sensitivity {
                return [
                    VariantMethod(layerType: .q4_0), VariantMethod(layerType: .q2_K),
                    VariantMethod(pruning: .wanda24, layerType: .q4_0),
                ].map { .method($0) }
            }
            return
                (VariantMethod.quantizationMethods
                + [
                    VariantMethod(pruning: .wanda50, layerType: .q4_0),
                    VariantMethod(pruning: .wanda24, layerType: .q4_0),
                ]).map { .method($0) }
        }
        var entries: [Entry] = []
        for item in methods.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) })
        where !item.isEmpty {
            if item.contains("/") || item.hasSuffix(".gguf") {
                guard FileManager.default.fileExists(atPath: item) else {
                    throw CLIError("variant file \(item) does not exist")
                }
                entries.append(.file(item))
            } else {
                do {
                    entries.append(.method(try VariantMethod(parsing: item)))
                } catch {
                    throw ValidationError("\(error)")
                }
            }
        }
        guard !entries.isEmpty else { throw ValidationError("--methods lists nothing") }
        return entries
    }

    /// The variant's file in the cache, made first when it is not there yet.
    static func makeVariant(
        _ method: VariantMethod, source: String, parentSHA256: String, calibration: String,
        progress: FetchProgressView
    ) throws -> String {
        // Beside the models directory (~/.cache/tessera/variants), one folder per parent file.
        let directory = URL(fileURLWithPath: ModelLocator.modelDirectory)
            .deletingLastPathComponent()
            .appendingPathComponent("variants/" + String(parentSHA256.prefix(16)))
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let path = directory.appendingPathComponent("\(method.description).gguf").path
        if FileManager.default.fileExists(atPath: path) { return path }
        let step = "making " + method.description
        _ = try VariantBuilder.build(
            source: source, method: method, output: path, calibrationText: calibration,
            parentSHA256: parentSHA256
        ) { fraction, _ in
            progress.update(step: step, fraction: fraction, detail: "\(Int(fraction * 100))%")
        }
        progress.finishLine()
        return path
    }

    /// A row's name: the variant's type, with its pruning and embedding choice.
    static func label(of method: VariantMethod) -> String {
        var label = method.layerType.name
        switch method.pruning {
        case .wanda50: label = "Wanda 50% " + label
        case .wanda24: label = "Wanda 2:4 " + label
        case nil: break
        }
        if let embedding = method.embeddingType { label += " emb " + embedding.name }
        return label
    }

    /// A file's row: its recorded method when it is a variant, else its file name.
    static func label(ofFile path: String) throws -> String {
        let file = try GGUFFile(path: path)
        if case .string(let name)? = file.metadata[VariantBuilder.methodKey],
            let method = try? VariantMethod(parsing: name)
        {
            return label(of: method)
        }
        return URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
    }

    static func referenceLabel(_ path: String) -> String {
        URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent + " (reference)"
    }

    /// Which tensors a variant stores in another type than asked (K-quants on short rows).
    static func fallbackNote(_ model: EvaluatedModel) throws -> String? {
        let file = try GGUFFile(path: model.path)
        guard case .array(let values)? = file.metadata[VariantBuilder.fallbacksKey], !values.isEmpty
        else { return nil }
        var used: [String: Int] = [:]
        for case .string(let entry) in values {
            if let arrow = entry.range(of: "->") {
                used[String(entry[arrow.upperBound...]), default: 0] += 1
            }
        }
        let summary = used.sorted { $0.key < $1.key }.map { "\($0.value) as \($0.key)" }
            .joined(separator: ", ")
        return
            "\(model.label): \(values.count) tensors stored in a fallback type (\(summary)): their rows are not whole K-quant super-blocks"
    }
}
