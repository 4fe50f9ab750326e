/// Register-blocked float matrix product for prefill: weight rows are decoded (three at a
/// time, into a small scratch tile) and multiplied against many tokens with FMAs, so decoding
/// is paid once per row per batch instead of once per row per token.
///
/// Both operands are in TileOrder, so `columns` must be a multiple of 32.
enum FloatGEMM {
    static let rowTile = 3
    static let tokenTile = 4

    /// output[t * outputStride + firstRow + r] for r < rowCount (≤ rowTile), all tokens.
    /// `weights` holds rowTile decoded rows (rows past rowCount zeroed), `input` tokens × columns.
    @inline(__always)
    static func multiplyTile(
        weights: UnsafePointer<Float>, rowCount: Int, firstRow: Int, input: UnsafePointer<Float>,
        tokens: Int,
        columns: Int, output: UnsafeMutablePointer<Float>, outputStride: Int
    ) {
        var token = 0
        while token + tokenTile <= tokens {
            let sums = kernel3x4(weights: weights, input: input + token * columns, columns: columns)
            for r in 0..<rowCount {
                for t in 0..<tokenTile {
                    output[(token + t) * outputStride + firstRow + r] = sums[r * tokenTile + t]
                }
            }
            token += tokenTile
        }
        while token < tokens {
            let sums = kernel3x1(weights: weights, input: input + token * columns, columns: columns)
            for r in 0..<rowCount { output[token * outputStride + firstRow + r] = sums[r] }
            token += 1
        }
    }

    /// 3 rows × 4 tokens: 12 accumulators + 3 weight vectors + 1 input vector = 16 ymm registers.
    @inline(__always)
    static func kernel3x4(weights: UnsafePointer<Float>, input: UnsafePointer<Float>, columns: Int)
        -> SIMD16<Float>
    {
        // Separate pointers with wrapping arithmetic keep overflow checks out of the loop.
        var w0 = UnsafeRawPointer(weights)
        var w1 = w0 + columns &* 4
        var w2 = w1 + columns &* 4
        var x0 = UnsafeRawPointer(input)
        var x1 = x0 + columns &* 4
        var x2 = x1 + columns &* 4
        var x3 = x2 + columns &* 4
        var a00 = SIMD8<Float>()
        var a01 = SIMD8<Float>()
        var a02 = SIMD8<Float>()
        var a03 = SIMD8<Float>()
        var a10 = SIMD8<Float>()
        var a11 = SIMD8<Float>()
        var a12 = SIMD8<Float>()
        var a13 = SIMD8<Float>()
        var a20 = SIMD8<Float>()
        var a21 = SIMD8<Float>()
        var a22 = SIMD8<Float>()
        var a23 = SIMD8<Float>()
        var remaining = columns / 8
        while remaining > 0 {
            let v0 = w0.loadUnaligned(as: SIMD8<Float>.self)
            let v1 = w1.loadUnaligned(as: SIMD8<Float>.self)
            let v2 = w2.loadUnaligned(as: SIMD8<Float>.self)
            var x = x0.loadUnaligned(as: SIMD8<Float>.self)
            a00 = a00.addingProduct(v0, x)
            a10 = a10.addingProduct(v1, x)
            a20 = a20.addingProduct(v2, x)
            x = x1.loadUnaligned(as: SIMD8<Float>.self)
            a01 = a01.addingProduct(v0, x)
            a11 = a11.addingProduct(v1, x)
            a21 = a21.addingProduct(v2, x)
            x = x2.loadUnaligned(as: SIMD8<Float>.self)
            a02 = a02.addingProduct(v0, x)
            a12 = a12.addingProduct(v1, x)
            a22 = a22.addingProduct(v2, x)
            x = x3.loadUnaligned(as: SIMD8<Float>.self)
            a03 = a03.addingProduct(v0, x)
            a13 = a13.addingProduct(v1, x)
            a23 = a23.addingProduct(v2, x)
            w0 += 32
            w1 += 32
            w2 += 32
            x0 += 32
            x1 += 32
            x2 += 32
            x3 += 32
            remaining &-= 1
        }
        return SIMD16(
            a00.sum(), a01.sum(), a02.sum(), a03.sum(), a10.sum(), a11.sum(), a12.sum(), a13.sum(),
            a20.sum(), a21.sum(), a22.sum(), a23.sum(), 0, 0, 0, 0)
    }

    @inline(__always)
    static func kernel3x1(weights: UnsafePointer<Float>, input: UnsafePointer<Float>, columns: Int)
        -> SIMD4<Float>
    {
        let w = UnsafeRawPointer(weights)
        let x = UnsafeRawPointer(input)
        let rowBytes = columns * 4
        var a0 = SIMD8<Float>()
        var a1 = SIMD8<Float>()
        var a2 = SIMD8<Float>()
        var offset = 0
        while offset < rowBytes {
            let v = x.loadUnaligned(fromByteOffset: offset, as: SIMD8<Float>.self)
            a0 = a0.addingProduct(w.loadUnaligned(fromByteOffset: offset, as: SIMD8<Float>.self), v)
            a1 = a1.addingProduct(
                w.loadUnaligned(fromByteOffset: offset + rowBytes, as: SIMD8<Float>.self), v)
            a2 = a2.addingProduct(
                w.loadUnaligned(fromByteOffset: offset + 2 * rowBytes, as: SIMD8<Float>.self), v)
            offset += 32
        }
        return SIMD4(a0.sum(), a1.sum(), a2.sum(), 0)
    }
}
