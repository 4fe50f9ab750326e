import Kernels

// The per-(token, head) attention loops and the cache element types they read. Kept in one
// file so debug builds (compiled file by file, no whole-module optimization) still specialize
// and inline them.

/// Reads and writes one cache element type in groups of eight floats.
protocol KVElement {
    static func load8(_ base: UnsafeRawPointer, _ index: Int) -> SIMD8<Float>
    static func load(_ base: UnsafeRawPointer, _ index: Int) -> Float
    static func store(_ values: UnsafePointer<Float>, count: Int, to base: UnsafeMutableRawPointer)
}

extension Float: KVElement {
    @inline(__always) static func load8(_ base: UnsafeRawPointer, _ index: Int) -> SIMD8<Float> {
        base.loadUnaligned(fromByteOffset: index &* 4, as: SIMD8<Float>.self)
    }

    @inline(__always) static func load(_ base: UnsafeRawPointer, _ index: Int) -> Float {
        base.loadUnaligned(fromByteOffset: index &* 4, as: Float.self)
    }

    static func store(_ values: UnsafePointer<Float>, count: Int, to base: UnsafeMutableRawPointer)
    {
        base.copyMemory(from: values, byteCount: count * 4)
    }
}

extension Float16: KVElement {
    @inline(__always) static func load8(_ base: UnsafeRawPointer, _ index: Int) -> SIMD8<Float> {
        let halves = base.loadUnaligned(fromByteOffset: index &* 2, as: SIMD8<Float16>.self)
        var floats = SIMD8<Float>()
        for lane in 0..<8 { floats[lane] = Float(halves[lane]) }  // one vcvtph2ps
        return floats
    }

    @inline(__always) static func load(_ base: UnsafeRawPointer, _ index: Int) -> Float {
        Float(base.loadUnaligned(fromByteOffset: index &* 2, as: Float16.self))
    }

    static func store(_ values: UnsafePointer<Float>, count: Int, to base: UnsafeMutableRawPointer)
    {
        for index in 0..<count {
            base.storeBytes(of: Float16(values[index]), toByteOffset: index * 2, as: Float16.self)
        }
    }
}

/// The inner loops of attention over cached keys and values of either precision.
enum AttentionMath {
    /// One query head at `position` against the cached keys/values of `kvHead` (non-generic entry),
    /// over positions `firstPosition...position` (0 unless the layer has a sliding window).
    static func attend(
        query: UnsafePointer<Float>, kvHead: Int, headDimension: Int, position: Int,
        firstPosition: Int, scale: Float, layer: Int,
        session: StageSession,
        output: UnsafeMutablePointer<Float>, scores: UnsafeMutablePointer<Float>
    ) {
        switch session.precision {
        case .f32:
            attend(
                Float.self, query: query, kvHead: kvHead, headDimension: headDimension,
                position: position, firstPosition: firstPosition, scale: scale,
                layer: layer, session: session, output: output, scores: scores)
        case .f16:
            attend(
                Float16.self, query: query, kvHead: kvHead, headDimension: headDimension,
                position: position, firstPosition: firstPosition, scale: scale,
                layer: layer, session: session, output: output, scores: scores)
        }
    }

    @inline(__always)
    private static func attend<Element: KVElement>(
        _ element: Element.Type, query: UnsafePointer<Float>, kvHead: Int, headDimension: Int,
        position: Int, firstPosition: Int, scale: Float,
        layer: Int, session: StageSession, output: UnsafeMutablePointer<Float>,
        scores: UnsafeMutablePointer<Float>
    ) {
        let length = position + 1 - firstPosition
        let stride = session.kvWidth
        let first = kvHead * headDimension
        let start = session.offset(layer: layer, position: firstPosition)
        let keys = UnsafeRawPointer(session.keys + start)
        let values = UnsafeRawPointer(session.values + start)
        headScores1(
            query, Element.self, keys, first: first, stride: stride, length: length,
            count: headDimension, scale: scale, scores: scores)
        Softmax.apply(scores, count: length)
        weightedSum(
            Element.self, values, first: first, stride: stride, weights: scores, length: length,
            count: headDimension,
            into: output)
    }

    /// The `heads` consecutive query heads that share `kvHead` (grouped-query attention), each
    /// with its own `scoreStride` floats of `scores`: the same bits as `attend` head by head,
    /// since every (head, key) dot and every (head, dimension) sum keeps its own accumulator
    /// and order. Sharing is what it saves: each key and value is loaded and converted from
    /// f16 once for up to three heads, and the three heads' independent FMA chains fill the
    /// pipeline that one head's chains leave waiting on latency.
    static func attendGroup(
        queries: UnsafePointer<Float>, heads: Int, kvHead: Int, headDimension: Int,
        position: Int, firstPosition: Int, scale: Float, layer: Int, session: StageSession,
        output: UnsafeMutablePointer<Float>, scores: UnsafeMutablePointer<Float>, scoreStride: Int
    ) {
        switch session.precision {
        case .f32:
            attendGroup(
                Float.self, queries: queries, heads: heads, kvHead: kvHead,
                headDimension: headDimension, position: position, firstPosition: firstPosition,
                scale: scale, layer: layer, session: session, output: output, scores: scores,
                scoreStride: scoreStride)
        case .f16:
            attendGroup(
                Float16.self, queries: queries, heads: heads, kvHead: kvHead,
                headDimension: headDimension, position: position, firstPosition: firstPosition,
                scale: scale, layer: layer, session: session, output: output, scores: scores,
                scoreStride: scoreStride)
        }
    }

    @inline(__always)
    private static func attendGroup<Element: KVElement>(
        _ element: Element.Type, queries: UnsafePointer<Float>, heads: Int, kvHead: Int,
        headDimension: Int, position: Int, firstPosition: Int, scale: Float, layer: Int,
        session: StageSession, output: UnsafeMutablePointer<Float>,
        scores: UnsafeMutablePointer<Float>, scoreStride: Int
    ) {
        let length = position + 1 - firstPosition
        let stride = session.kvWidth
        let first = kvHead * headDimension
        let start = session.offset(layer: layer, position: firstPosition)
        let keys = UnsafeRawPointer(session.keys + start)
        let values = UnsafeRawPointer(session.values + start)
        var head = 0
        while head < heads {
            // Threes while they last, then the rest one head at a time.
            let take = heads - head >= 3 ? 3 : 1
            let query = queries + head * headDimension
            let headScores = scores + head * scoreStride
            let headOutput = output + head * headDimension
            if take == 3 {
                groupScores3(
                    query, Element.self, keys, first: first, stride: stride, length: length,
                    count: headDimension, scale: scale, scores: headScores,
                    scoreStride: scoreStride)
            } else {
                headScores1(
                    query, Element.self, keys, first: first, stride: stride, length: length,
                    count: headDimension, scale: scale, scores: headScores)
            }
            for member in 0..<take {
                Softmax.apply(headScores + member * scoreStride, count: length)
            }
            if take == 3 {
                weightedSum3(
                    Element.self, values, first: first, stride: stride, weights: headScores,
                    weightStride: scoreStride, length: length, count: headDimension,
                    into: headOutput, outputStride: headDimension)
            } else {
                weightedSum(
                    Element.self, values, first: first, stride: stride, weights: headScores,
                    length: length, count: headDimension, into: headOutput)
            }
            head += take
        }
    }

    /// One head's scaled scores, four keys at a time: four independent FMA chains instead of
    /// one latency-bound chain.
    @inline(__always)
    private static func headScores1<Element: KVElement>(
        _ query: UnsafePointer<Float>, _ element: Element.Type, _ keys: UnsafeRawPointer,
        first: Int, stride: Int, length: Int, count: Int, scale: Float,
        scores: UnsafeMutablePointer<Float>
    ) {
        var t = 0
        while t + 4 <= length {
            let dots = dotFour(
                query, Element.self, keys, first: t * stride + first, stride: stride, count: count)
            for lane in 0..<4 { scores[t + lane] = dots[lane] * scale }
            t += 4
        }
        while t < length {
            scores[t] =
                dotOne(query, Element.self, keys, first: t * stride + first, count: count) * scale
            t += 1
        }
    }

    /// Three heads' scores, two keys at a time: six accumulators, each key chunk loaded once.
    /// Per (head, key) the sum is `dotOne`'s: chunks of eight in order, `sum()`, the tail.
    @inline(__always)
    private static func groupScores3<Element: KVElement>(
        _ query: UnsafePointer<Float>, _ element: Element.Type, _ keys: UnsafeRawPointer,
        first: Int, stride: Int, length: Int, count: Int, scale: Float,
        scores: UnsafeMutablePointer<Float>, scoreStride: Int
    ) {
        let q0 = query
        let q1 = query + count
        let q2 = query + 2 * count
        var t = 0
        while t + 2 <= length {
            let k0 = first + t * stride
            let k1 = k0 + stride
            var a00 = SIMD8<Float>()
            var a01 = SIMD8<Float>()
            var a10 = SIMD8<Float>()
            var a11 = SIMD8<Float>()
            var a20 = SIMD8<Float>()
            var a21 = SIMD8<Float>()
            var index = 0
            while index + 8 <= count {
                let x0 = Element.load8(keys, k0 &+ index)
                let x1 = Element.load8(keys, k1 &+ index)
                let v0 = UnsafeRawPointer(q0 + index).loadUnaligned(as: SIMD8<Float>.self)
                let v1 = UnsafeRawPointer(q1 + index).loadUnaligned(as: SIMD8<Float>.self)
                let v2 = UnsafeRawPointer(q2 + index).loadUnaligned(as: SIMD8<Float>.self)
                a00 = a00.addingProduct(v0, x0)
                a01 = a01.addingProduct(v0, x1)
                a10 = a10.addingProduct(v1, x0)
                a11 = a11.addingProduct(v1, x1)
                a20 = a20.addingProduct(v2, x0)
                a21 = a21.addingProduct(v2, x1)
                index &+= 8
            }
            var sums = (a00.sum(), a01.sum(), a10.sum(), a11.sum(), a20.sum(), a21.sum())
            while index < count {
                let x0 = Element.load(keys, k0 + index)
                let x1 = Element.load(keys, k1 + index)
                sums.0 += q0[index] * x0
                sums.1 += q0[index] * x1
                sums.2 += q1[index] * x0
                sums.3 += q1[index] * x1
                sums.4 += q2[index] * x0
                sums.5 += q2[index] * x1
                index += 1
            }
            scores[t] = sums.0 * scale
            scores[t + 1] = sums.1 * scale
            scores[scoreStride + t] = sums.2 * scale
            scores[scoreStride + t + 1] = sums.3 * scale
            scores[2 * scoreStride + t] = sums.4 * scale
            scores[2 * scoreStride + t + 1] = sums.5 * scale
            t += 2
        }
        if t < length {
            let key = first + t * stride
            for member in 0..<3 {
                scores[member * scoreStride + t] =
                    dotOne(query + member * count, Element.self, keys, first: key, count: count)
                    * scale
            }
        }
    }

    /// Three heads' weighted sums of the values, 32 dimensions at a time: twelve accumulators,
    /// each value chunk loaded and converted once for the three heads. Per (head, dimension)
    /// the sum is `weightedSum`'s: positions in order, one FMA each.
    @inline(__always)
    private static func weightedSum3<Element: KVElement>(
        _ element: Element.Type, _ values: UnsafeRawPointer, first: Int, stride: Int,
        weights: UnsafePointer<Float>, weightStride: Int, length: Int, count: Int,
        into output: UnsafeMutablePointer<Float>, outputStride: Int
    ) {
        let w0 = weights
        let w1 = weights + weightStride
        let w2 = weights + 2 * weightStride
        var base = 0
        while base + 32 <= count {
            var s00 = SIMD8<Float>()
            var s01 = SIMD8<Float>()
            var s02 = SIMD8<Float>()
            var s03 = SIMD8<Float>()
            var s10 = SIMD8<Float>()
            var s11 = SIMD8<Float>()
            var s12 = SIMD8<Float>()
            var s13 = SIMD8<Float>()
            var s20 = SIMD8<Float>()
            var s21 = SIMD8<Float>()
            var s22 = SIMD8<Float>()
            var s23 = SIMD8<Float>()
            for t in 0..<length {
                let row = first &+ t &* stride &+ base
                let (b0, b1, b2) = (w0[t], w1[t], w2[t])
                let x0 = Element.load8(values, row)
                s00 = s00.addingProduct(x0, b0)
                s10 = s10.addingProduct(x0, b1)
                s20 = s20.addingProduct(x0, b2)
                let x1 = Element.load8(values, row &+ 8)
                s01 = s01.addingProduct(x1, b0)
                s11 = s11.addingProduct(x1, b1)
                s21 = s21.addingProduct(x1, b2)
                let x2 = Element.load8(values, row &+ 16)
                s02 = s02.addingProduct(x2, b0)
                s12 = s12.addingProduct(x2, b1)
                s22 = s22.addingProduct(x2, b2)
                let x3 = Element.load8(values, row &+ 24)
                s03 = s03.addingProduct(x3, b0)
                s13 = s13.addingProduct(x3, b1)
                s23 = s23.addingProduct(x3, b2)
            }
            store(s00, s01, s02, s03, to: output + base)
            store(s10, s11, s12, s13, to: output + outputStride + base)
            store(s20, s21, s22, s23, to: output + 2 * outputStride + base)
            base += 32
        }
        if base < count {
            for member in 0..<3 {
                weightedTail(
                    Element.self, values, first: first, stride: stride,
                    weights: weights + member * weightStride, length: length, from: base,
                    count: count, into: output + member * outputStride)
            }
        }
    }

    @inline(__always)
    private static func store(
        _ s0: SIMD8<Float>, _ s1: SIMD8<Float>, _ s2: SIMD8<Float>, _ s3: SIMD8<Float>,
        to output: UnsafeMutablePointer<Float>
    ) {
        let out = UnsafeMutableRawPointer(output)
        out.storeBytes(of: s0, as: SIMD8<Float>.self)
        out.storeBytes(of: s1, toByteOffset: 32, as: SIMD8<Float>.self)
        out.storeBytes(of: s2, toByteOffset: 64, as: SIMD8<Float>.self)
        out.storeBytes(of: s3, toByteOffset: 96, as: SIMD8<Float>.self)
    }

    @inline(__always)
    static func dotFour<Element: KVElement>(
        _ query: UnsafePointer<Float>, _ element: Element.Type, _ keys: UnsafeRawPointer,
        first: Int, stride: Int,
        count: Int
    ) -> SIMD4<Float> {
        var a0 = SIMD8<Float>()
        var a1 = SIMD8<Float>()
        var a2 = SIMD8<Float>()
        var a3 = SIMD8<Float>()
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
            for lane in 0..<4 {
                result[lane] += query[index] * Element.load(keys, first + lane * stride + index)
            }
            index += 1
        }
        return result
    }

    @inline(__always)
    static func dotOne<Element: KVElement>(
        _ query: UnsafePointer<Float>, _ element: Element.Type, _ keys: UnsafeRawPointer,
        first: Int, count: Int
    ) -> Float {
        var acc = SIMD8<Float>()
        var index = 0
        while index + 8 <= count {
            acc = acc.addingProduct(
                UnsafeRawPointer(query + index).loadUnaligned(as: SIMD8<Float>.self),
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
        _ element: Element.Type, _ values: UnsafeRawPointer, first: Int, stride: Int,
        weights: UnsafePointer<Float>,
        length: Int, count: Int, into output: UnsafeMutablePointer<Float>
    ) {
        var base = 0
        while base + 32 <= count {
            var s0 = SIMD8<Float>()
            var s1 = SIMD8<Float>()
            var s2 = SIMD8<Float>()
            var s3 = SIMD8<Float>()
            for t in 0..<length {
                let row = first + t * stride + base
                let w = weights[t]
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
        weightedTail(
            Element.self, values, first: first, stride: stride, weights: weights, length: length,
            from: base, count: count, into: output)
    }

    /// Dimensions `from..<count` of `weightedSum`, one at a time (head sizes not a multiple of 32).
    @inline(__always)
    static func weightedTail<Element: KVElement>(
        _ element: Element.Type, _ values: UnsafeRawPointer, first: Int, stride: Int,
        weights: UnsafePointer<Float>, length: Int, from: Int, count: Int,
        into output: UnsafeMutablePointer<Float>
    ) {
        var base = from
        while base < count {
            var sum: Float = 0
            for t in 0..<length {
                sum += weights[t] * Element.load(values, first + t * stride + base)
            }
            output[base] = sum
            base += 1
        }
    }
}
