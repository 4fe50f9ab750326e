import Kernels
import Testing

@testable import Inference

/// The SIMD attention loops against the double-precision scalar reference.
@Suite struct AttentionTests {
    final class Owner {}

    /// Deterministic pseudo-random values in [-1, 1).
    static func values(_ count: Int, seed: UInt64) -> [Float] {
        var state = seed
        return (0..<count).map { _ in
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Float(Int64(bitPattern: state >> 11) % 2_000_000) / 1_000_000 - 1
        }
    }

    @Test(arguments: [KVCachePrecision.f32, .f16], [1, 3, 4, 7, 37])
    func matchesScalarReference(precision: KVCachePrecision, length: Int) {
        let headDimension = 64
        let kvHeads = 2
        let kvWidth = kvHeads * headDimension
        let session = StageSession(
            owner: Owner(), layerCount: 2, kvWidth: kvWidth, contextLength: 40, precision: precision
        )
        let keys = Self.values(length * kvWidth, seed: 1).map { $0 * 3 }
        let values = Self.values(length * kvWidth, seed: 2)
        for position in 0..<length {
            keys.withUnsafeBufferPointer { k in
                values.withUnsafeBufferPointer { v in
                    session.store(
                        layer: 1, position: position, keys: k.baseAddress! + position * kvWidth,
                        values: v.baseAddress! + position * kvWidth)
                }
            }
        }
        let query = Self.values(headDimension, seed: 3)
        for kvHead in 0..<kvHeads {
            var output = [Float](repeating: .nan, count: headDimension)
            var scores = [Float](repeating: 0, count: 40)
            AttentionMath.attend(
                query: query, kvHead: kvHead, headDimension: headDimension, position: length - 1,
                firstPosition: 0, scale: 1 / Float(headDimension).squareRoot(), layer: 1,
                session: session, output: &output, scores: &scores)
            // The reference sees the values as stored (rounded to f16 when the cache is f16).
            func stored(_ array: [Float]) -> [Float] {
                var result: [Float] = []
                for t in 0..<length {
                    let start = t * kvWidth + kvHead * headDimension
                    for index in start..<(start + headDimension) {
                        let value = array[index]
                        result.append(precision == .f16 ? Float(Float16(value)) : value)
                    }
                }
                return result
            }
            let want = ScalarReference.attention(
                query: query, keys: stored(keys), values: stored(values),
                headDimension: headDimension)
            for index in 0..<headDimension {
                #expect(
                    abs(output[index] - want[index]) <= 1e-5 + 1e-5 * abs(want[index]),
                    "dim \(index)")
            }
        }
    }

    /// The grouped loops (the query heads of a KV head together) give `attend`'s bits head by
    /// head: any group size (threes and the heads left over), head sizes with tails past the
    /// 8- and 32-wide chunks, odd and even key counts, and a sliding window's first position.
    @Test(arguments: [KVCachePrecision.f32, .f16], [1, 2, 3, 4, 5, 7])
    func groupsGiveEachHeadsBits(precision: KVCachePrecision, heads: Int) {
        for headDimension in [64, 40, 36] {
            for (length, firstPosition) in [
                (1, 0), (2, 0), (3, 0), (4, 1), (5, 0), (37, 0), (37, 6),
            ] {
                let kvHeads = 2
                let kvWidth = kvHeads * headDimension
                let session = StageSession(
                    owner: Owner(), layerCount: 1, kvWidth: kvWidth, contextLength: 40,
                    precision: precision)
                let keys = Self.values(length * kvWidth, seed: 5).map { $0 * 3 }
                let values = Self.values(length * kvWidth, seed: 6)
                keys.withUnsafeBufferPointer { k in
                    values.withUnsafeBufferPointer { v in
                        for position in 0..<length {
                            session.store(
                                layer: 0, position: position,
                                keys: k.baseAddress! + position * kvWidth,
                                values: v.baseAddress! + position * kvWidth)
                        }
                    }
                }
                let queries = Self.values(heads * headDimension, seed: 7).map { $0 * 2 }
                let scale = 1 / Float(headDimension).squareRoot()
                let kvHead = 1
                var grouped = [Float](repeating: .nan, count: heads * headDimension)
                var groupScores = [Float](repeating: .nan, count: heads * 40)
                AttentionMath.attendGroup(
                    queries: queries, heads: heads, kvHead: kvHead, headDimension: headDimension,
                    position: length - 1, firstPosition: firstPosition, scale: scale, layer: 0,
                    session: session, output: &grouped, scores: &groupScores, scoreStride: 40)
                for head in 0..<heads {
                    var alone = [Float](repeating: .nan, count: headDimension)
                    var scores = [Float](repeating: 0, count: 40)
                    let query = Array(
                        queries[(head * headDimension)..<((head + 1) * headDimension)])
                    AttentionMath.attend(
                        query: query, kvHead: kvHead, headDimension: headDimension,
                        position: length - 1, firstPosition: firstPosition, scale: scale,
                        layer: 0, session: session, output: &alone, scores: &scores)
                    let mine = grouped[(head * headDimension)..<((head + 1) * headDimension)]
                    #expect(
                        mine.map(\.bitPattern) == alone.map(\.bitPattern),
                        "head \(head) of \(heads), dimension \(headDimension), length \(length) from \(firstPosition)"
                    )
                }
            }
        }
    }
}
