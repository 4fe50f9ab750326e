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
        base.loadUnaligned(fromByteOffset: index * 4, as: SIMD8<Float>.self)
    }

    @inline(__always) static func load(_ base: UnsafeRawPointer, _ index: Int) -> Float {
        base.loadUnaligned(fromByteOffset: index * 4, as: Float.self)
    }

    static func store(_ values: UnsafePointer<Float>, count: Int, to base: UnsafeMutableRawPointer)
    {
        base.copyMemory(from: values, byteCount: count * 4)
    }
}

extension Float16: KVElement {
    @inline(__always) static func load8(_ base: UnsafeRawPointer, _ index: Int) -> SIMD8<Float> {
        let halves = base.loadUnaligned(fromByteOffset: index * 2, as: SIMD8<Float16>.self)
        var floats = SIMD8<Float>()
        for lane in 0..<8 { floats[lane] = Float(halves[lane]) }  // one vcvtph2ps
        return floats
    }

    @inline(__always) static func load(_ base: UnsafeRawPointer, _ index: Int) -> Float {
        Float(base.loadUnaligned(fromByteOffset: index * 2, as: Float16.self))
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
        var t = 0
        // Four keys at a time: four independent FMA chains instead of one latency-bound chain.
        while t + 4 <= length {
            let dots = dotFour(
                query, Element.self, keys, first: t * stride + first, stride: stride,
                count: headDimension)
            for lane in 0..<4 { scores[t + lane] = dots[lane] * scale }
            t += 4
        }
        while t < length {
            scores[t] =
                dotOne(query, Element.self, keys, first: t * stride + first, count: headDimension)
                * scale
            t += 1
        }
        Softmax.apply(scores, count: length)
        weightedSum(
            Element.self, values, first: first, stride: stride, weights: scores, length: length,
            count: headDimension,
            into: output)
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
