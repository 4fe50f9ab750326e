import Foundation
import Kernels
import Testing

/// SIMD elementwise kernels against the double-precision scalar reference.
@Suite struct ElementwiseTests {
    func expectClose(
        _ a: [Float], _ b: [Float], relative: Float, absolute: Float = 1e-6, _ what: String
    ) {
        #expect(a.count == b.count)
        for (index, (x, y)) in zip(a, b).enumerated() {
            #expect(abs(x - y) <= absolute + relative * abs(y), "\(what)[\(index)]: \(x) vs \(y)")
        }
    }

    @Test func vectorExpMatchesFoundation() {
        var inputs: [Float] = stride(from: -87.0, through: 88.0, by: 0.37).map { Float($0) }
        inputs += [0, -0.0, 1e-8, -1e-8, 0.5, -0.5, 20, -20]
        for value in inputs {
            let got = vectorExp(SIMD8(repeating: value))[0]
            let want = Float(Foundation.exp(Double(value)))
            #expect(
                abs(got - want) <= 3e-7 * want + Float.leastNormalMagnitude,
                "exp(\(value)) = \(got), want \(want)")
        }
        #expect(vectorExp(SIMD8(repeating: -100))[0] == 0)
        #expect(vectorExp(SIMD8(repeating: 100))[0] == .infinity)
        #expect(vectorExp(SIMD8(repeating: .nan))[0].isNaN)
        #expect(vectorExp(SIMD8(repeating: -.infinity))[0] == 0)
    }

    @Test func rmsNormMatchesReference() {
        var generator = SeededGenerator(seed: 11)
        for width in [8, 13, 576] {
            let x = generator.floats(width * 2, in: -4...4)
            let weight = generator.floats(width, in: 0...2)
            var out = [Float](repeating: 0, count: width * 2)
            RMSNorm.apply(x, weight: weight, width: width, rows: 2, epsilon: 1e-5, output: &out)
            for row in 0..<2 {
                let want = ScalarReference.rmsNorm(
                    Array(x[(row * width)..<((row + 1) * width)]), weight: weight, epsilon: 1e-5)
                expectClose(
                    Array(out[(row * width)..<((row + 1) * width)]), want, relative: 1e-5,
                    "rmsnorm \(width)")
            }
        }
    }

    @Test func softmaxMatchesReference() {
        var generator = SeededGenerator(seed: 12)
        for count in [1, 7, 8, 100] {
            var x = generator.floats(count, in: -30...30)
            let want = ScalarReference.softmax(x)
            Softmax.apply(&x, count: count)
            expectClose(x, want, relative: 2e-6, absolute: 1e-9, "softmax \(count)")
        }
    }

    @Test func swiGLUMatchesReference() {
        var generator = SeededGenerator(seed: 13)
        let gate = generator.floats(1541, in: -20...20)
        let up = generator.floats(1541, in: -3...3)
        var out = [Float](repeating: 0, count: gate.count)
        SwiGLU.apply(gate: gate, up: up, count: gate.count, output: &out)
        expectClose(
            out, ScalarReference.swiGLU(gate: gate, up: up), relative: 1e-6, absolute: 1e-7,
            "swiglu")
    }

    @Test(arguments: [true, false])
    func ropeMatchesReference(adjacentPairs: Bool) {
        var generator = SeededGenerator(seed: 14)
        let x = generator.floats(3 * 64)
        for position in [0, 1, 17, 4000] {
            let rope = RotaryEmbedding(
                headDimension: 64, base: 100_000, style: adjacentPairs ? .adjacentPairs : .halves)
            var got = x
            got.withUnsafeMutableBufferPointer {
                rope.apply($0.baseAddress!, heads: 3, position: position)
            }
            let want = ScalarReference.rope(
                x, headDimension: 64, position: position, base: 100_000,
                adjacentPairs: adjacentPairs)
            expectClose(got, want, relative: 1e-5, absolute: 1e-6, "rope pos \(position)")
        }
    }

    @Test func ropeAtPositionZeroIsIdentity() {
        let x: [Float] = (0..<64).map { Float($0) }
        var got = x
        got.withUnsafeMutableBufferPointer {
            RotaryEmbedding(headDimension: 64, base: 10_000, style: .adjacentPairs).apply(
                $0.baseAddress!, heads: 1, position: 0)
        }
        #expect(got == x)
    }

    @Test func vectorAddAddsEveryElement() {
        var a: [Float] = (0..<21).map { Float($0) }
        let b: [Float] = (0..<21).map { Float($0) * 10 }
        VectorAdd.apply(&a, adding: b, count: 21)
        #expect(a == (0..<21).map { Float($0) * 11 })
    }
}
