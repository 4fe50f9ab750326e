import ArgumentParser
import Foundation
import GGUF
import Inference
import Tokenization

/// `tessera run`: generate text from a prompt with the engine on this machine (no cluster).
struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run", abstract: "Generate text locally with Tessera's engine.")

    @Option(help: "GGUF path or model name.")
    var model = ModelLocator.defaultModelName
    @Argument(help: "The prompt.")
    var prompt: String
    @Flag(help: "Wrap the prompt as a user message in the model's chat template.")
    var chat = false
    @Option(help: "Maximum tokens to generate.")
    var maxTokens = 128
    @Option(help: "Sampling temperature; 0 is greedy.")
    var temperature: Float = 0
    @Option(help: "Top-k filter (0 = off).")
    var topK = 40
    @Option(help: "Top-p (nucleus) filter.")
    var topP: Float = 0.95
    @Option(help: "Min-p filter.")
    var minP: Float = 0.05
    @Option(help: "Random seed for sampling.")
    var seed: UInt64 = 0
    @Option(help: "Worker threads.")
    var threads = min(ProcessInfo.processInfo.activeProcessorCount, 4)
    @Flag(help: "Render special tokens (and parse them in the prompt).")
    var special = false
    @Flag(help: "Keep generating after end-of-generation tokens.")
    var ignoreEos = false
    @Flag(help: "Print one JSON object per generated token instead of text.")
    var json = false
    @Option(help: "With --json: include the K highest logits of each step.")
    var topLogits = 0

    func validate() throws {
        guard maxTokens > 0 else { throw ValidationError("--max-tokens must be positive") }
        guard threads > 0 else { throw ValidationError("--threads must be positive") }
        guard topLogits >= 0 else { throw ValidationError("--top-logits must not be negative") }
        guard topLogits == 0 || json else { throw ValidationError("--top-logits needs --json") }
    }

    func run() throws {
        let file = try GGUFFile(path: try ModelResolution.path(model))
        let tokenizer = try Tokenizer(gguf: file)
        let stage = try TransformerStage(
            file: file, layers: 0..<(try ModelHyperparameters(gguf: file).layerCount),
            threads: threads)
        let promptTokens = try encodePrompt(tokenizer)
        let parameters = SamplingParameters(
            temperature: temperature, topK: topK, topP: topP, minP: minP, seed: seed,
            ignoreEOS: ignoreEos,
            maxTokens: maxTokens)
        let generator = try LocalGenerator(stage: stage, tokenizer: tokenizer)
        let output = FileHandle.standardOutput
        let summary = try generator.generate(
            prompt: promptTokens, parameters: parameters, renderSpecial: special,
            topLogits: topLogits
        ) { token in
            if json {
                output.write(try Self.jsonLine(token))
            } else if !token.text.isEmpty {
                output.write(Data(token.text.utf8))
            }
        }
        if !json { output.write(Data("\n".utf8)) }
        let reason = summary.stopReason.map { "\($0)" } ?? "none"
        let report = String(
            format: "%d prompt tokens at %.1f tok/s, %d generated at %.1f tok/s (stop: %@)\n",
            summary.promptTokens, summary.prefillTokensPerSecond, summary.generatedTokens,
            summary.decodeTokensPerSecond,
            reason)
        FileHandle.standardError.write(Data(report.utf8))
    }

    private func encodePrompt(_ tokenizer: Tokenizer) throws -> [Int32] {
        guard chat else { return tokenizer.encode(prompt, addSpecial: true, parseSpecial: special) }
        // The declared template, else the family's; say which, since a guess changes answers.
        let choice = tokenizer.chatTemplateChoice
        FileHandle.standardError.write(Data("tessera: \(choice.summary)\n".utf8))
        // Like the model's own Jinja template: add its default system prompt when it has one.
        let text = choice.template.render(
            [ChatMessage(role: "user", content: prompt)], addGenerationPrompt: true,
            defaultSystemPrompt: choice.defaultSystemPrompt)
        return tokenizer.encode(text, addSpecial: true, parseSpecial: true)
    }

    private static func jsonLine(_ token: GeneratedToken) throws -> Data {
        var object: [String: Any] = ["id": Int(token.id), "text": token.text]
        if !token.topLogits.isEmpty {
            object["top_logits"] = token.topLogits.map {
                ["id": Int($0.id), "logit": Double($0.logit)]
            }
        }
        var data = try JSONSerialization.data(
            withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
        data.append(UInt8(ascii: "\n"))
        return data
    }
}
