import ArgumentParser
import Foundation
import GGUF
import Inference
import ModelEvaluation
import Tokenization

/// `tessera mix-run`: greedy generation in one process through a chain of stages cut from
/// different files — the model for some layer ranges, a variant for others — the same mix
/// a pipeline planned under a quality budget runs across workers (docs/variants.md,
/// "Placement with a quality budget"). It is the reference that pipeline's output is checked
/// against, token for token.
struct MixRunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mix-run",
        abstract: "Greedy generation through a mix of a model and its variants, in one process.",
        shouldDisplay: false)

    @Option(help: "The model: a GGUF path or name (every layer no --stage takes).")
    var model = ModelLocator.defaultModelName
    @Option(
        name: .customLong("stage"),
        help:
            "FILE:FIRST-LAST: run layers FIRST to LAST (inclusive) from this GGUF file (repeatable)."
    )
    var stages: [String] = []
    @Argument(help: "The prompt (tokenized as given, with the model's start token).")
    var prompt: String
    @Option(help: "Maximum tokens to generate.")
    var maxTokens = 32
    @Flag(help: "Keep generating after end-of-generation tokens.")
    var ignoreEos = false
    @Option(help: "Worker threads per stage.")
    var threads = 1

    func validate() throws {
        guard maxTokens > 0 else { throw ValidationError("--max-tokens must be positive") }
        guard threads > 0 else { throw ValidationError("--threads must be positive") }
        _ = try parsedStages()
    }

    /// The --stage options as (file, layers), checked for form and overlap.
    func parsedStages() throws -> [(path: String, layers: Range<Int>)] {
        var parsed: [(path: String, layers: Range<Int>)] = []
        for stage in stages {
            guard let colon = stage.lastIndex(of: ":") else {
                throw ValidationError("--stage \(stage): expected FILE:FIRST-LAST")
            }
            let bounds = stage[stage.index(after: colon)...].split(separator: "-")
            guard bounds.count == 2, let first = Int(bounds[0]), let last = Int(bounds[1]),
                first >= 0, last >= first
            else {
                throw ValidationError(
                    "--stage \(stage): FIRST-LAST must be two layer numbers, FIRST ≤ LAST")
            }
            let range = first..<(last + 1)
            if let clash = parsed.first(where: { $0.layers.overlaps(range) }) {
                throw ValidationError(
                    "--stage \(stage): layers overlap \(clash.layers.lowerBound)-\(clash.layers.upperBound - 1)"
                )
            }
            parsed.append((String(stage[..<colon]), range))
        }
        return parsed.sorted { $0.layers.lowerBound < $1.layers.lowerBound }
    }

    func run() throws {
        let modelPath = try ModelResolution.path(model)
        let file = try GGUFFile(path: modelPath)
        let tokenizer = try Tokenizer(gguf: file)
        let layerCount = try ModelHyperparameters(gguf: file).layerCount
        let chain = try StageChain(chainStages(modelPath: modelPath, layerCount: layerCount))
        let sampler = try Sampler(
            parameters: SamplingParameters(
                temperature: 0, ignoreEOS: ignoreEos, maxTokens: maxTokens))
        let promptTokens = tokenizer.encode(prompt, addSpecial: true, parseSpecial: false)
        let sessions = try chain.stages.map {
            try $0.makeSession(contextLength: promptTokens.count + maxTokens)
        }
        var sequence = promptTokens
        var input = promptTokens
        let output = FileHandle.standardOutput
        for _ in 0..<maxTokens {
            let logits = try forward(chain, sessions: sessions, tokens: input)
            let token = try sampler.sample(
                logits: logits, recentTokens: sequence, position: sequence.count,
                endOfGeneration: tokenizer.endOfGenerationTokenIDs)
            sequence.append(token)
            output.write(Data("{\"id\":\(token)}\n".utf8))
            if !ignoreEos && tokenizer.endOfGenerationTokenIDs.contains(token) { break }
            input = [token]
        }
    }

    /// Every layer covered in order: the --stage ranges from their files, the gaps from the model.
    private func chainStages(modelPath: String, layerCount: Int) throws -> [TransformerStage] {
        var result: [TransformerStage] = []
        var next = 0
        for stage in try parsedStages() {
            guard stage.layers.upperBound <= layerCount else {
                throw CLIError("--stage \(stage.path): the model has only \(layerCount) layers")
            }
            if stage.layers.lowerBound > next {
                result.append(
                    try TransformerStage(
                        path: modelPath, layers: next..<stage.layers.lowerBound, threads: threads))
            }
            result.append(
                try TransformerStage(path: stage.path, layers: stage.layers, threads: threads))
            next = stage.layers.upperBound
        }
        if next < layerCount {
            result.append(
                try TransformerStage(path: modelPath, layers: next..<layerCount, threads: threads))
        }
        return result
    }

    /// One step through every stage; the last stage's logits for the last token.
    private func forward(_ chain: StageChain, sessions: [StageSession], tokens: [Int32]) throws
        -> [Float]
    {
        var input = StageInput.tokens(tokens)
        for (stage, session) in zip(chain.stages, sessions) {
            switch try stage.forward(input, session: session) {
            case .hidden(let values, let count): input = .hidden(values, count: count)
            case .logits(let values, _): return values
            }
        }
        throw CLIError("the chain of stages has no last stage")
    }
}
