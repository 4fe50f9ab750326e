import GGUF
import Inference
import Tokenization

/// A shard loaded for replays, as a worker loads it (`HostedShard`): the stage of its
/// layers and, at the last stage, what the sampler needs from the model's vocabulary.
final class ReplayStage: Sendable {
    let stage: TransformerStage
    /// Tokens a session that ignores end-of-generation never samples.
    let endOfGeneration: Set<Int32>
    /// Each token's bytes, for response formats; nil when the shard carries no vocabulary.
    let vocabulary: TokenVocabulary?
    /// The model a cut shard was cut from (`tessera.shard.model_sha256`).
    let modelSHA256: String?

    var layers: Range<Int> { stage.layers }
    var hyperparameters: ModelHyperparameters { stage.hyperparameters }

    /// Maps the file and builds the stage for `layers`. A cut shard must hold exactly those
    /// layers (its `tessera.shard.*` keys); a whole-model file runs the range asked for.
    init(path: String, layers: Range<Int>, threads: Int) throws(ReplayStageError) {
        let file: GGUFFile
        do {
            file = try GGUFFile(path: path)
        } catch {
            throw .unusable("it is not a readable GGUF file: \(error)")
        }
        if let first = file.metadata["tessera.shard.first_layer"]?.int,
            let last = file.metadata["tessera.shard.last_layer"]?.int, first..<last != layers
        {
            throw .unusable(
                "it holds layers [\(first), \(last)), not [\(layers.lowerBound), \(layers.upperBound))"
            )
        }
        do {
            stage = try TransformerStage(file: file, layers: layers, threads: threads)
        } catch {
            throw .unusable("the engine cannot run it for these layers: \(error)")
        }
        let tokenizer = stage.isLast ? try? Tokenizer(gguf: file) : nil
        endOfGeneration = tokenizer?.endOfGenerationTokenIDs ?? []
        vocabulary = tokenizer.map(TokenVocabulary.init(tokenizer:))
        modelSHA256 = file.metadata["tessera.shard.model_sha256"]?.string
    }
}

/// A shard a worker named that the replay cannot run: the worker's claim is wrong.
enum ReplayStageError: Error, CustomStringConvertible {
    case unusable(String)

    var description: String {
        switch self {
        case .unusable(let why): why
        }
    }
}
