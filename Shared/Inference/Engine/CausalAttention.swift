import Kernels

/// Grouped-query causal attention of a batch of queries against one layer's KV cache.
/// Work is split over (token, head) pairs; each pair's arithmetic does not depend on the
/// split, so results are the same for any thread count.
struct CausalAttention {
    let headCount: Int
    let kvHeadCount: Int
    let headDimension: Int

    /// queries: batch × headCount × headDimension (already rotated); output has the same shape.
    /// Token i of the batch sits at position `startPosition + i` and sees positions 0...that.
    func run(
        queries: UnsafePointer<Float>, batch: Int, startPosition: Int, layer: Int, session: StageSession,
        output: UnsafeMutablePointer<Float>, scores: UnsafeMutablePointer<Float>, scoreStride: Int, pool: ThreadPool
    ) {
        let items = batch * headCount
        let threads = pool.threadCount
        pool.run { worker in
            let workerScores = scores + worker * scoreStride
            var item = worker
            while item < items {
                let token = item / headCount, head = item % headCount
                let offset = (token * headCount + head) * headDimension
                attendOne(
                    query: queries + offset, head: head, position: startPosition + token, layer: layer,
                    session: session, output: output + offset, scores: workerScores)
                item += threads
            }
        }
    }

    @inline(__always)
    private func attendOne(
        query: UnsafePointer<Float>, head: Int, position: Int, layer: Int, session: StageSession,
        output: UnsafeMutablePointer<Float>, scores: UnsafeMutablePointer<Float>
    ) {
        let kvOffset = (head / (headCount / kvHeadCount)) * headDimension
        let scale = 1 / Float(headDimension).squareRoot()
        let length = position + 1
        for t in 0..<length {
            let key = session.keyRow(layer: layer, position: t) + kvOffset
            scores[t] = dot(query, key, count: headDimension) * scale
        }
        Softmax.apply(scores, count: length)
        output.initialize(repeating: 0, count: headDimension)
        for t in 0..<length {
            let value = session.valueRow(layer: layer, position: t) + kvOffset
            accumulate(value, weight: scores[t], into: output, count: headDimension)
        }
    }

    @inline(__always)
    private func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count: Int) -> Float {
        var acc = SIMD8<Float>()
        var index = 0
        while index + 8 <= count {
            acc = acc.addingProduct(
                UnsafeRawPointer(a + index).loadUnaligned(as: SIMD8<Float>.self),
                UnsafeRawPointer(b + index).loadUnaligned(as: SIMD8<Float>.self))
            index += 8
        }
        var total = acc.sum()
        while index < count {
            total += a[index] * b[index]
            index += 1
        }
        return total
    }

    @inline(__always)
    private func accumulate(
        _ value: UnsafePointer<Float>, weight: Float, into output: UnsafeMutablePointer<Float>, count: Int
    ) {
        var index = 0
        while index + 8 <= count {
            let target = UnsafeMutableRawPointer(output + index)
            let sum = target.loadUnaligned(as: SIMD8<Float>.self)
                .addingProduct(UnsafeRawPointer(value + index).loadUnaligned(as: SIMD8<Float>.self), weight)
            target.storeBytes(of: sum, as: SIMD8<Float>.self)
            index += 8
        }
        while index < count {
            output[index] += value[index] * weight
            index += 1
        }
    }
}
