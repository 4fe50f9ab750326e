import Dispatch
import GGUF
import Inference
import ServiceKit
import Tokenization

/// A loaded shard: the memory-mapped file and the `TransformerStage` for its layers, ready
/// to serve `Forward` sessions. Its share of the memory budget is returned when the last
/// reference goes away (an unloaded shard stays alive until its open sessions end).
final class HostedShard: Sendable {
    /// The shard as the file describes it (hash, layers, size, ends), for reports.
    let ref: ShardReference
    let stage: TransformerStage
    let fileBytes: UInt64
    /// Tokens the sampler must never pick when a session asks to ignore end-of-generation.
    let endOfGeneration: Set<Int32>
    /// Last stage: each token's bytes, for sessions whose response format constrains them.
    let tokenVocabulary: TokenVocabulary?
    /// The batch loop's passes run here one at a time (the stage serializes them anyway).
    let queue: DispatchQueue
    /// The steps of this stage's sessions, batched into passes (on `queue`, but for a lone
    /// decode step that finds the loop idle: see `BatchLoop`).
    let loop: BatchLoop
    private let budget: MemoryBudget

    var layers: Range<Int> { stage.layers }
    var hyperparameters: ModelHyperparameters { stage.hyperparameters }

    /// Maps `path`, checks it against `requested` and builds the stage. The caller has
    /// already charged `fileBytes` to `budget`; this object gives them back on deinit.
    init(
        path: String, sha: String, requested: ShardReference, threads: Int, fileBytes: UInt64,
        budget: MemoryBudget, batching: BatchLimits = BatchLimits()
    ) throws {
        self.budget = budget
        self.fileBytes = fileBytes
        let file: GGUFFile
        do {
            file = try GGUFFile(path: path)
        } catch {
            throw WorkerError.damagedShard("shard \(sha) is not a readable GGUF file: \(error)")
        }
        let layerCount = try Self.engineCall { try ModelHyperparameters(gguf: file).layerCount }
        let layers = try Self.layers(
            of: file, requested: requested, layerCount: layerCount, sha: sha)
        stage = try Self.engineCall {
            try TransformerStage(file: file, layers: layers, threads: threads)
        }
        let tokenizer = stage.isLast ? try? Tokenizer(gguf: file) : nil
        endOfGeneration = tokenizer?.endOfGenerationTokenIDs ?? []
        tokenVocabulary = tokenizer.map(TokenVocabulary.init(tokenizer:))
        queue = DispatchQueue(label: "tessera.worker.stage.\(sha.prefix(12))")
        loop = BatchLoop(stage: stage, queue: queue, limits: batching)

        var ref = requested
        ref.sha256 = sha
        ref.layers = layers
        ref.sizeBytes = fileBytes
        ref.hasEmbedding = stage.isFirst
        ref.hasOutput = stage.isLast
        if ref.model == nil, let model = file.metadata["tessera.shard.model_sha256"]?.string {
            ref.model = ModelReference(sha256: model)
        }
        self.ref = ref
        WorkerMetrics.shardBytes.add(Int64(fileBytes))
    }

    deinit {
        budget.release(fileBytes)
        WorkerMetrics.shardBytes.add(-Int64(fileBytes))
    }

    /// The layer range the file says it holds (`tessera.shard.*`), or for a whole-model file
    /// the range the request names (all layers when it names none). A request that names a
    /// different range than the file holds is refused.
    private static func layers(
        of file: GGUFFile, requested: ShardReference, layerCount: Int, sha: String
    ) throws(WorkerError) -> Range<Int> {
        var layers = requested.layers ?? 0..<layerCount
        if let first = file.metadata["tessera.shard.first_layer"]?.int,
            let last = file.metadata["tessera.shard.last_layer"]?.int
        {
            guard first < last else {
                throw .invalidRequest(
                    "shard \(sha) is the vocabulary shard [\(first), \(last)): it has no layers to run"
                )
            }
            if let asked = requested.layers, asked != first..<last {
                throw .invalidRequest(
                    "shard \(sha) holds layers \((first..<last).layerSpan), not \(asked.layerSpan)")
            }
            layers = first..<last
        }
        if let model = file.metadata["tessera.shard.model_sha256"]?.string,
            let asked = requested.model, model != asked.sha256
        {
            throw .invalidRequest("shard \(sha) was cut from model \(model), not \(asked.sha256)")
        }
        return layers
    }

    /// Engine refusals (unsupported architecture, missing tensors) are the file's fault.
    private static func engineCall<Value>(_ body: () throws -> Value) throws -> Value {
        do {
            return try body()
        } catch let error as InferenceError {
            throw WorkerError.unsupportedShard("\(error)")
        }
    }
}
