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
    /// RoPE of global-attention layers (all layers without a sliding window) and of
    /// sliding-window layers, which have their own base (Gemma 3).
    let rotary: RotaryEmbedding
    let slidingRotary: RotaryEmbedding
    /// LongRoPE's rotation for sessions longer than the original context (Phi-3 128k).
    let longContextRotary: RotaryEmbedding
    let attention: CausalAttention
    let workspace: StageWorkspace
    let lock = NSLock()
    /// Sees every block's matrix-product inputs (calibration); nil when serving. Set it
    /// before running `forward`, not while another thread runs it.
    public var matmulInputObserver: MatmulInputObserver?

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
        let weights = try StageWeights(file: file, hyperparameters: hp, layers: layers)
        self.weights = weights
        pool = ThreadPool(threads: threads)
        multiplier = MatrixMultiplier(pool: pool)
        func rope(slidingWindow: Bool, factors: [Float]?) -> RotaryEmbedding {
            let (base, scale) = hp.model.rope.parameters(slidingWindow: slidingWindow)
            return RotaryEmbedding(
                headDimension: hp.headDimension, rotaryDimensions: hp.rotaryDimensions,
                base: base, style: hp.ropeStyle, scale: scale, frequencyFactors: factors,
                magnitude: Float(hp.model.rope.attentionFactor))
        }
        let shortFactors = weights.ropeFrequencyFactors ?? weights.ropeShortFactors
        rotary = rope(slidingWindow: false, factors: shortFactors)
        slidingRotary = rope(slidingWindow: true, factors: shortFactors)
        longContextRotary = rope(
            slidingWindow: false, factors: weights.ropeLongFactors ?? shortFactors)
        attention = CausalAttention(
            headCount: hp.headCount, kvHeadCount: hp.kvHeadCount, headDimension: hp.headDimension,
            scale: hp.model.attentionScale)
        let fusedWidth = weights.layers.map(\.fusedOutputWidth).max() ?? 0
        workspace = StageWorkspace(
            embeddingLength: hp.embeddingLength, queryWidth: hp.queryWidth, kvWidth: hp.kvWidth,
            feedForwardLength: hp.feedForwardLength, fusedWidth: fusedWidth,
            threads: pool.threadCount, scoreRows: attention.headsPerGroup)
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
        let matrices = weights.layers.flatMap(\.matrices) + (weights.output.map { [$0] } ?? [])
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
