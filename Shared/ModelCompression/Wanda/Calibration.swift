import Foundation
import GGUF
import Inference
import Tokenization

/// Runs a calibration text through Tessera's own engine and gathers the input norms of every
/// block's matrix products (the float activations, before the multiplier quantizes them).
public enum Calibration {
    /// Fewer tokens than this cannot say which inputs matter: refused, not silently used.
    public static let minimumTokens = 64
    /// Tokens per forward window (each window is a fresh session, as in llama.cpp's imatrix).
    public static let defaultWindowLength = 512

    public struct TooShort: Error, CustomStringConvertible {
        public let tokens: Int
        public var description: String {
            "the calibration text is too short: \(tokens) tokens, at least \(Calibration.minimumTokens) needed"
        }
    }

    /// The norms for `text`, tokenized with the model's own tokenizer.
    public static func inputNorms(
        modelPath: String, text: String, windowLength: Int = defaultWindowLength,
        threads: Int = ProcessInfo.processInfo.activeProcessorCount,
        progress: (Double) -> Void = { _ in }
    ) throws -> InputNorms {
        let file = try GGUFFile(path: modelPath)
        let tokens = try Tokenizer(gguf: file).encode(text, addSpecial: false)
        let count = try ModelHyperparameters(gguf: file).layerCount
        let stage = try TransformerStage(file: file, layers: 0..<count, threads: threads)
        return try inputNorms(
            stage: stage, tokens: tokens, windowLength: windowLength, progress: progress)
    }

    /// The norms for `tokens` run through `stage` (a whole model) in windows of `windowLength`.
    public static func inputNorms(
        stage: TransformerStage, tokens: [Int32], windowLength: Int = defaultWindowLength,
        progress: (Double) -> Void = { _ in }
    ) throws -> InputNorms {
        guard tokens.count >= minimumTokens else { throw TooShort(tokens: tokens.count) }
        let collector = NormCollector()
        stage.matmulInputObserver = { layer, site, rows, count, width in
            collector.norms.add(layer: layer, site: site, rows: rows, count: count, width: width)
        }
        defer { stage.matmulInputObserver = nil }
        var start = 0
        while start < tokens.count {
            let end = min(start + windowLength, tokens.count)
            let session = try stage.makeSession(contextLength: end - start)
            _ = try stage.forward(.tokens(Array(tokens[start..<end])), session: session)
            collector.norms.countTokens(end - start)
            start = end
            progress(Double(start) / Double(tokens.count))
        }
        return collector.norms
    }
}

/// Holds the norms the observer adds to (the observer runs on the forward pass's thread,
/// one call at a time).
private final class NormCollector {
    var norms = InputNorms()
}
