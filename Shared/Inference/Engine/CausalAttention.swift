import Kernels

/// Grouped-query causal attention of a batch of queries against one layer's KV cache.
/// Work is split over (token, head) pairs; each pair's arithmetic does not depend on the
/// split, so results are the same for any thread count.
struct CausalAttention {
    let headCount: Int
    let kvHeadCount: Int
    let headDimension: Int
    /// Multiplies query·key (1/√head for every family but Gemma 3 27B).
    let scale: Float

    /// queries: batch × headCount × headDimension (already rotated); output has the same shape.
    /// Token i of the batch sits at position `startPosition + i` and sees positions 0...that,
    /// or with a sliding `window` only the last `window` of them (itself included).
    /// `scores` holds `scoreStride` floats per query head of a group, a group per thread.
    func run(
        queries: UnsafePointer<Float>, batch: Int, startPosition: Int, window: Int?, layer: Int,
        session: StageSession,
        output: UnsafeMutablePointer<Float>, scores: UnsafeMutablePointer<Float>, scoreStride: Int,
        pool: ThreadPool
    ) {
        // Work goes out by (token, KV head): the query heads of a group share its keys and values.
        let items = batch * kvHeadCount
        let groupSize = headsPerGroup
        // Decode at short context is a few microseconds of work: waking the other workers
        // would cost more than it saves. (Results are identical either way.)
        let worthSplitting = batch * headCount * (startPosition + batch) >= Self.minimumSplitWork
        let threads = worthSplitting ? pool.threadCount : 1
        let body = { (worker: Int) in
            let workerScores = scores + worker * groupSize * scoreStride
            var item = worker
            while item < items {
                let token = item / kvHeadCount
                let kvHead = item % kvHeadCount
                let offset = (token * headCount + kvHead * groupSize) * headDimension
                let position = startPosition + token
                AttentionMath.attendGroup(
                    queries: queries + offset, heads: groupSize, kvHead: kvHead,
                    headDimension: headDimension, position: position,
                    firstPosition: window.map { max(0, position + 1 - $0) } ?? 0, scale: scale,
                    layer: layer, session: session, output: output + offset,
                    scores: workerScores, scoreStride: scoreStride)
                item += threads
            }
        }
        if worthSplitting { pool.run(body) } else { body(0) }
    }

    /// Query heads per KV head.
    var headsPerGroup: Int { headCount / kvHeadCount }

    /// (token, head) pairs × positions attended below which attention stays on one thread.
    static let minimumSplitWork = 4096
}
