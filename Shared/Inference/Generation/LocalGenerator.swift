import Foundation
import Tokenization

/// One generated token as `tessera run` reports it.
public struct GeneratedToken: Sendable {
    public var id: Int32
    /// The text this token makes visible (may be empty while a multi-byte character or a
    /// possible stop string is pending, and may include held-back text from earlier tokens).
    public var text: String
    /// The highest logits at this step, highest first, when requested.
    public var topLogits: [(id: Int32, logit: Float)]
}

/// Totals of one generation.
public struct LocalGenerationSummary: Sendable {
    public var promptTokens: Int
    public var generatedTokens: Int
    public var stopReason: StopReason?
    public var prefillSeconds: Double
    public var decodeSeconds: Double

    public var prefillTokensPerSecond: Double {
        prefillSeconds > 0 ? Double(promptTokens) / prefillSeconds : 0
    }
    /// Tokens after the first one, over the time spent decoding them.
    public var decodeTokensPerSecond: Double {
        decodeSeconds > 0 ? Double(max(generatedTokens - 1, 0)) / decodeSeconds : 0
    }
}

/// Prompt-to-text generation with a whole-model stage on this machine: prefill, then sample,
/// stream and feed back one token at a time until a stop condition.
public struct LocalGenerator {
    public let stage: TransformerStage
    public let tokenizer: Tokenizer

    public init(stage: TransformerStage, tokenizer: Tokenizer) throws {
        guard stage.isFirst, stage.isLast else {
            throw InferenceError.wrongInput(
                "local generation needs a stage holding the whole model")
        }
        self.stage = stage
        self.tokenizer = tokenizer
    }

    public func generate(
        prompt: [Int32], parameters: SamplingParameters, renderSpecial: Bool = false,
        topLogits: Int = 0,
        onToken: (GeneratedToken) throws -> Void
    ) throws -> LocalGenerationSummary {
        guard !prompt.isEmpty else { throw InferenceError.emptyInput }
        let sampler = try Sampler(parameters: parameters)
        var constraint = try parameters.responseFormat.grammar().map {
            TokenConstraint(grammar: $0, vocabulary: TokenVocabulary(tokenizer: tokenizer))
        }
        var stop = StopCondition(
            parameters: parameters, tokenizer: tokenizer, renderSpecial: renderSpecial)
        let session = try stage.makeSession(
            contextLength: prompt.count + max(parameters.maxTokens, 1))
        var sequence = prompt
        var summary = LocalGenerationSummary(
            promptTokens: prompt.count, generatedTokens: 0, stopReason: nil, prefillSeconds: 0,
            decodeSeconds: 0)

        let start = DispatchTime.now().uptimeNanoseconds
        var logits = try stage.forward(.tokens(prompt), session: session).values
        let prefillEnd = DispatchTime.now().uptimeNanoseconds
        summary.prefillSeconds = Double(prefillEnd - start) / 1e9
        var firstTokenTime = prefillEnd

        while !stop.isStopped {
            let token = try sampler.sample(
                logits: logits, recentTokens: sequence, position: sequence.count,
                endOfGeneration: tokenizer.endOfGenerationTokenIDs, constraint: constraint)
            try constraint?.accept(token)
            let text = try stop.accept(token)
            sequence.append(token)
            summary.generatedTokens += 1
            try onToken(
                GeneratedToken(
                    id: token, text: text,
                    topLogits: topLogits > 0 ? Self.top(logits, count: topLogits) : []))
            if summary.generatedTokens == 1 {
                firstTokenTime = DispatchTime.now().uptimeNanoseconds
            }
            if stop.isStopped { break }
            logits = try stage.forward(.tokens([token]), session: session).values
        }
        summary.decodeSeconds = Double(DispatchTime.now().uptimeNanoseconds - firstTokenTime) / 1e9
        summary.stopReason = stop.reason
        return summary
    }

    /// The `count` largest logits, highest first (one pass, no full sort).
    static func top(_ logits: [Float], count: Int) -> [(id: Int32, logit: Float)] {
        var best: [(id: Int32, logit: Float)] = []
        for (index, logit) in logits.enumerated() where !logit.isNaN {
            if best.count == count, let last = best.last, logit <= last.logit { continue }
            var position = best.count
            while position > 0 && best[position - 1].logit < logit { position -= 1 }
            best.insert((Int32(index), logit), at: position)
            if best.count > count { best.removeLast() }
        }
        return best
    }
}
