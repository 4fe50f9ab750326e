import Foundation
import Testing

@testable import Inference

@Suite struct SamplingDeterminismTests {
    /// A fixed pseudo-model: logits that depend on the position only.
    private func logits(at position: Int) -> [Float] {
        (0..<50).map { id in Float(sin(Double(id * 7 + position * 13)) * 3) }
    }

    private func generate(seed: UInt64, from start: Int, count: Int) throws -> [Int32] {
        let sampler = try Sampler(
            parameters: SamplingParameters(
                temperature: 1.0, topK: 20, topP: 0.95, minP: 0.02, seed: seed))
        return try (start..<(start + count)).map {
            try sampler.sample(logits: logits(at: $0), position: $0)
        }
    }

    @Test func sameSeedSameTokens() throws {
        #expect(
            try generate(seed: 42, from: 0, count: 64) == generate(seed: 42, from: 0, count: 64))
        #expect(
            try generate(seed: 42, from: 0, count: 64) != generate(seed: 43, from: 0, count: 64))
        #expect(
            Set(try generate(seed: 42, from: 0, count: 64)).count > 5,
            "draws should vary across positions")
    }

    /// Replaying from the middle reproduces the tail: draws depend on (seed, position) only.
    @Test func replayFromAnyPositionReproducesTheDraws() throws {
        let full = try generate(seed: 7, from: 0, count: 40)
        for start in [1, 17, 39] {
            #expect(try generate(seed: 7, from: start, count: 40 - start) == Array(full[start...]))
        }
        #expect(
            SamplingRandom.uniform(seed: 7, position: 5)
                == SamplingRandom.uniform(seed: 7, position: 5))
    }

    /// With logits ln(1/4), ln(3/4), draws over many positions follow 1:3.
    @Test func drawsFollowTheDistribution() throws {
        let sampler = try Sampler(
            parameters: SamplingParameters(temperature: 1, topK: 0, topP: 1, minP: 0, seed: 99))
        let logits: [Float] = [Float(log(0.25)), Float(log(0.75))]
        let draws = 8000
        let ones = try (0..<draws).filter { try sampler.sample(logits: logits, position: $0) == 1 }
            .count
        let share = Double(ones) / Double(draws)
        #expect(abs(share - 0.75) < 0.02, "share of token 1 was \(share)")
        // Temperature 0.5 squares the odds (1:9).
        let sharp = try Sampler(
            parameters: SamplingParameters(temperature: 0.5, topK: 0, topP: 1, minP: 0, seed: 99))
        let sharpOnes = try (0..<draws).filter {
            try sharp.sample(logits: logits, position: $0) == 1
        }.count
        #expect(abs(Double(sharpOnes) / Double(draws) - 0.9) < 0.02)
    }

    @Test func uniformValuesLookUniform() {
        let values = (0..<10_000).map { SamplingRandom.uniform(seed: 1, position: $0) }
        #expect(values.allSatisfy { $0 >= 0 && $0 < 1 })
        let mean = values.reduce(0, +) / Double(values.count)
        #expect(abs(mean - 0.5) < 0.01)
        let lowerHalf = values.filter { $0 < 0.5 }.count
        #expect(abs(lowerHalf - 5000) < 200)
    }
}
