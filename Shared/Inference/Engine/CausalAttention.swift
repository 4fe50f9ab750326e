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
        // Decode at short context is a few microseconds of work: waking the other workers
        // would cost more than it saves. (Results are identical either way.)
        let worthSplitting = items * (startPosition + batch) >= Self.minimumSplitWork
        let threads = worthSplitting ? pool.threadCount : 1
        let body = { (worker: Int) in
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
        if worthSplitting { pool.run(body) } else { body(0) }
    }

    /// (token, head) pairs × positions attended below which attention stays on one thread.
    static let minimumSplitWork = 4096

    @inline(__always)
    private func attendOne<Element: KVElement>(
        _ element: Element.Type, query: UnsafePointer<Float>, head: Int, position: Int, layer: Int,
        session: StageSession, output: UnsafeMutablePointer<Float>, scores: UnsafeMutablePointer<Float>
    ) {
        let kvHead = head / (headCount / kvHeadCount)
        let scale = 1 / Float(headDimension).squareRoot()
        let length = position + 1
        let stride = session.kvWidth
        let first = kvHead * headDimension
        let keys = UnsafeRawPointer(session.keys + session.offset(layer: layer, position: 0))
        let values = UnsafeRawPointer(session.values + session.offset(layer: layer, position: 0))
        var t = 0
        // Four keys at a time: four independent FMA chains instead of one latency-bound chain.
        while t + 4 <= length {
            let dots = AttentionMath.dotFour(query, Element.self, keys, first: t * stride + first, stride: stride,
                                             count: headDimension)
            for lane in 0..<4 { scores[t + lane] = dots[lane] * scale }
            t += 4
        }
        while t < length {
            scores[t] = AttentionMath.dotOne(query, Element.self, keys, first: t * stride + first, count: headDimension)
                * scale
            t += 1
        }
        Softmax.apply(scores, count: length)
        AttentionMath.weightedSum(
            Element.self, values, first: first, stride: stride, weights: scores, length: length, count: headDimension,
            into: output)
    }
}

/// The inner loops of attention over cached keys and values of either precision.
enum AttentionMath {
    @inline(__always)
    static func dotFour<Element: KVElement>(
        _ query: UnsafePointer<Float>, _ element: Element.Type, _ keys: UnsafeRawPointer, first: Int, stride: Int,
        count: Int
    ) -> SIMD4<Float> {
        var a0 = SIMD8<Float>(), a1 = SIMD8<Float>(), a2 = SIMD8<Float>(), a3 = SIMD8<Float>()
        var index = 0
        while index + 8 <= count {
            let q = UnsafeRawPointer(query + index).loadUnaligned(as: SIMD8<Float>.self)
            a0 = a0.addingProduct(q, Element.load8(keys, first + index))
            a1 = a1.addingProduct(q, Element.load8(keys, first + stride + index))
            a2 = a2.addingProduct(q, Element.load8(keys, first + 2 * stride + index))
            a3 = a3.addingProduct(q, Element.load8(keys, first + 3 * stride + index))
            index += 8
        }
        var result = SIMD4(a0.sum(), a1.sum(), a2.sum(), a3.sum())
        while index < count {
            for lane in 0..<4 { result[lane] += query[index] * Element.load(keys, first + lane * stride + index) }
            index += 1
        }
        return result
    }

    @inline(__always)
    static func dotOne<Element: KVElement>(
        _ query: UnsafePointer<Float>, _ element: Element.Type, _ keys: UnsafeRawPointer, first: Int, count: Int
    ) -> Float {
        var acc = SIMD8<Float>()
        var index = 0
        while index + 8 <= count {
            acc = acc.addingProduct(UnsafeRawPointer(query + index).loadUnaligned(as: SIMD8<Float>.self),
                                    Element.load8(keys, first + index))
            index += 8
        }
        var total = acc.sum()
        while index < count {
            total += query[index] * Element.load(keys, first + index)
            index += 1
        }
        return total
    }

    /// output = Σ_t weights[t] · values[t], 32 dimensions at a time held in registers
    /// (re-reading and re-storing the output for every position would serialize on memory).
    @inline(__always)
    static func weightedSum<Element: KVElement>(
        _ element: Element.Type, _ values: UnsafeRawPointer, first: Int, stride: Int, weights: UnsafePointer<Float>,
        length: Int, count: Int, into output: UnsafeMutablePointer<Float>
    ) {
        var base = 0
        while base + 32 <= count {
            var s0 = SIMD8<Float>(), s1 = SIMD8<Float>(), s2 = SIMD8<Float>(), s3 = SIMD8<Float>()
            for t in 0..<length {
                let row = first + t * stride + base, w = weights[t]
                s0 = s0.addingProduct(Element.load8(values, row), w)
                s1 = s1.addingProduct(Element.load8(values, row + 8), w)
                s2 = s2.addingProduct(Element.load8(values, row + 16), w)
                s3 = s3.addingProduct(Element.load8(values, row + 24), w)
            }
            let out = UnsafeMutableRawPointer(output + base)
            out.storeBytes(of: s0, as: SIMD8<Float>.self)
            out.storeBytes(of: s1, toByteOffset: 32, as: SIMD8<Float>.self)
            out.storeBytes(of: s2, toByteOffset: 64, as: SIMD8<Float>.self)
            out.storeBytes(of: s3, toByteOffset: 96, as: SIMD8<Float>.self)
            base += 32
        }
        while base < count {
            var sum: Float = 0
            for t in 0..<length { sum += weights[t] * Element.load(values, first + t * stride + base) }
            output[base] = sum
            base += 1
        }
    }
}
