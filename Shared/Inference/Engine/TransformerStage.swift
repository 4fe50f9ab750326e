import Foundation
import GGUF
import Kernels

/// A contiguous range of a llama-style model's layers, runnable on its own.
///
/// The first stage (range starting at 0) turns token ids into embeddings; the last stage
/// (range ending at the layer count) applies the final norm and the output projection.
/// Middle stages take and return hidden states. Chaining stages [0,k) and [k,n) gives
/// bit-identical results to one stage [0,n) with the same thread count.
///
/// `forward` calls are serialized per stage (one workspace and thread pool per stage);
/// different stages run in parallel freely.
// @unchecked: weights are immutable after init; the workspace and thread pool are mutated by
// `forward`, which holds the stage's lock for the whole pass.
public final class TransformerStage: @unchecked Sendable {
    public let hyperparameters: ModelHyperparameters
    public let layers: Range<Int>
    public var isFirst: Bool { layers.lowerBound == 0 }
    public var isLast: Bool { layers.upperBound == hyperparameters.layerCount }
    public var threadCount: Int { pool.threadCount }

    /// Tokens per internal batch during prefill; bounds scratch memory for long prompts
    /// without changing results (every token's arithmetic is independent of batching).
    public static let maxBatch = 128

    let file: GGUFFile
    let weights: StageWeights
    let pool: ThreadPool
    let multiplier: MatrixMultiplier
    let rotary: RotaryEmbedding
    let attention: CausalAttention
    let workspace: StageWorkspace
    let lock = NSLock()

    /// Loads the tensors of `layers` from `file` (the file stays mapped; weights are not copied).
    public init(file: GGUFFile, layers: Range<Int>, threads: Int = 1) throws {
        let hp = try ModelHyperparameters(gguf: file)
        guard !layers.isEmpty, layers.lowerBound >= 0, layers.upperBound <= hp.layerCount else {
            throw InferenceError.invalidLayerRange(
                first: layers.lowerBound, last: layers.upperBound, layerCount: hp.layerCount)
        }
        self.file = file
        self.hyperparameters = hp
        self.layers = layers
        weights = try StageWeights(file: file, hyperparameters: hp, layers: layers)
        pool = ThreadPool(threads: threads)
        multiplier = MatrixMultiplier(pool: pool)
        rotary = RotaryEmbedding(
            headDimension: hp.headDimension, rotaryDimensions: hp.rotaryDimensions,
            base: hp.ropeBase, style: hp.ropeStyle)
        attention = CausalAttention(
            headCount: hp.headCount, kvHeadCount: hp.kvHeadCount, headDimension: hp.headDimension)
        workspace = StageWorkspace(
            embeddingLength: hp.embeddingLength, kvWidth: hp.kvWidth,
            feedForwardLength: hp.feedForwardLength,
            threads: pool.threadCount)
    }

    /// Convenience: opens (memory-maps) the GGUF at `path`.
    public convenience init(path: String, layers: Range<Int>? = nil, threads: Int = 1) throws {
        let file = try GGUFFile(path: path)
        let count = try ModelHyperparameters(gguf: file).layerCount
        try self.init(file: file, layers: layers ?? 0..<count, threads: threads)
    }

    /// Weight bytes one decode step streams: every matrix of the stage's layers, plus the output
    /// projection on the last stage (the first stage's embedding lookup reads one row only).
    public var weightBytesPerToken: Int {
        let matrices =
            weights.layers.flatMap {
                [$0.query, $0.key, $0.value, $0.attentionOutput, $0.gate, $0.up, $0.down]
            }
            + (weights.output.map { [$0] } ?? [])
        return matrices.reduce(0) { $0 + $1.rows * $1.rowBytes }
    }

    /// A fresh session whose KV cache holds up to `contextLength` tokens. The cache takes
    /// 2 × layers × contextLength × kvWidth values (f16 by default, as llama.cpp).
    public func makeSession(contextLength: Int, precision: KVCachePrecision = .f16) throws
        -> StageSession
    {
        guard contextLength > 0 else { throw InferenceError.invalidContextLength(contextLength) }
        return StageSession(
            owner: self, layerCount: layers.count, kvWidth: hyperparameters.kvWidth,
            contextLength: contextLength,
            precision: precision)
    }
}
