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
                switch session.precision {
                case .f32:
                    attendOne(Float.self, query: queries + offset, head: head, position: startPosition + token,
                              layer: layer, session: session, output: output + offset, scores: workerScores)
                case .f16:
                    attendOne(Float16.self, query: queries + offset, head: head, position: startPosition + token,
                              layer: layer, session: session, output: output + offset, scores: workerScores)
                }
                item += threads
            }
        }
    }

    @inline(__always)
    private func attendOne<Element: KVElement>(
        _ element: Element.Type, query: UnsafePointer<Float>, head: Int, position: Int, layer: Int,
        session: StageSession, output: UnsafeMutablePointer<Float>, scores: UnsafeMutablePointer<Float>
    ) {
        let kvHead = head / (headCount / kvHeadCount)
        let scale = 1 / Float(headDimension).squareRoot()
        let length = position + 1
        let rowStride = session.kvWidth
        let keys = UnsafeRawPointer(session.keys + session.offset(layer: layer, position: 0))
        let values = UnsafeRawPointer(session.values + session.offset(layer: layer, position: 0))
        for t in 0..<length {
            scores[t] = dot(query, Element.self, keys, first: t * rowStride + kvHead * headDimension) * scale
        }
        Softmax.apply(scores, count: length)
        output.initialize(repeating: 0, count: headDimension)
        for t in 0..<length {
            accumulate(Element.self, values, first: t * rowStride + kvHead * headDimension, weight: scores[t], into: output)
        }
    }

    @inline(__always)
    private func dot<Element: KVElement>(
        _ query: UnsafePointer<Float>, _ element: Element.Type, _ keys: UnsafeRawPointer, first: Int
    ) -> Float {
        var acc = SIMD8<Float>()
        var index = 0
        while index + 8 <= headDimension {
            acc = acc.addingProduct(
                UnsafeRawPointer(query + index).loadUnaligned(as: SIMD8<Float>.self), Element.load8(keys, first + index))
            index += 8
        }
        var total = acc.sum()
        while index < headDimension {
            total += query[index] * Element.load(keys, first + index)
            index += 1
        }
        return total
    }

    @inline(__always)
    private func accumulate<Element: KVElement>(
        _ element: Element.Type, _ values: UnsafeRawPointer, first: Int, weight: Float, into output: UnsafeMutablePointer<Float>
    ) {
        var index = 0
        while index + 8 <= headDimension {
            let target = UnsafeMutableRawPointer(output + index)
            let sum = target.loadUnaligned(as: SIMD8<Float>.self).addingProduct(Element.load8(values, first + index), weight)
            target.storeBytes(of: sum, as: SIMD8<Float>.self)
            index += 8
        }
        while index < headDimension {
            output[index] += Element.load(values, first + index) * weight
            index += 1
        }
    }
}
