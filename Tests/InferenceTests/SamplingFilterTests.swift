import Foundation
import Testing

@testable import Inference

/// Each step of the chain on small distributions whose results are worked out by hand.
@Suite struct SamplingFilterTests {
    /// Logits whose softmax is exactly these probabilities.
    private func logits(_ probabilities: [Double]) -> [Float] {
        probabilities.map { Float(log($0)) }
    }

    private func keptIDs(_ parameters: SamplingParameters, _ logits: [Float], recent: [Int32] = [])
        throws -> [Int32]
    {
        try Sampler(parameters: parameters).finalCandidates(logits: logits, recentTokens: recent)
            .map(\.id)
    }

    @Test func greedyPicksTheArgmax() throws {
        let sampler = try Sampler(parameters: .greedy)
        #expect(try sampler.sample(logits: [0.1, 2.5, -1, 2.4], position: 0) == 1)
        #expect(try sampler.sample(logits: [3, 1, 3], position: 0) == 0)  // ties: lowest id
        #expect(try sampler.sample(logits: [.nan, -.infinity, -5], position: 0) == 2)
        // Greedy is independent of seed and position.
        for position in 0..<20 {
            #expect(try sampler.sample(logits: [0, 0.5, 0.49], position: position) == 1)
        }
    }

    @Test func topKKeepsTheKMostLikely() throws {
        let parameters = SamplingParameters(temperature: 1, topK: 2, topP: 1, minP: 0)
        #expect(try keptIDs(parameters, [1, 4, 3, 2]) == [1, 2])
        #expect(
            try keptIDs(
                SamplingParameters(temperature: 1, topK: 0, topP: 1, minP: 0), [1, 4, 3, 2]) == [
                    1, 2, 3, 0,
                ])
    }

    /// Probabilities 0.5, 0.3, 0.15, 0.05 (ids 2, 0, 3, 1).
    let fourWay: [Double] = [0.3, 0.05, 0.5, 0.15]

    @Test func topPKeepsTheSmallestPrefixReachingP() throws {
        func kept(_ p: Float) throws -> [Int32] {
            try keptIDs(
                SamplingParameters(temperature: 1, topK: 0, topP: p, minP: 0), logits(fourWay))
        }
        #expect(try kept(0.4) == [2])  // 0.5 >= 0.4
        #expect(try kept(0.75) == [2, 0])  // 0.8 >= 0.75
        #expect(try kept(0.9) == [2, 0, 3])  // 0.95 >= 0.9
        #expect(try kept(1) == [2, 0, 3, 1])
    }

    @Test func minPDropsTokensFarBelowTheTop() throws {
        func kept(_ p: Float) throws -> [Int32] {
            try keptIDs(
                SamplingParameters(temperature: 1, topK: 0, topP: 1, minP: p), logits(fourWay))
        }
        #expect(try kept(0.2) == [2, 0, 3])  // threshold 0.1: 0.05 goes
        #expect(try kept(0.5) == [2, 0])  // threshold 0.25
        #expect(try kept(0.9) == [2])
    }

    @Test func temperatureScalesTheKeptLogits() throws {
        let candidates = try Sampler(
            parameters: SamplingParameters(temperature: 0.5, topK: 0, topP: 1, minP: 0)
        )
        .finalCandidates(logits: [1, 3])
        #expect(candidates.map(\.logit) == [6, 2])
    }

    /// llama.cpp: positive logits of recent tokens are divided by the penalty, negative ones
    /// multiplied, once per distinct token.
    @Test func repeatPenaltyDividesPositiveAndMultipliesNegative() throws {
        let parameters = SamplingParameters(temperature: 0, repeatPenalty: 2, repeatLastN: 64)
        let candidates = try Sampler(parameters: parameters).finalCandidates(
            logits: [2, -2, 1.5], recentTokens: [0, 1, 0])
        // 2 -> 1, -2 -> -4, 1.5 untouched
        #expect(candidates == [TokenCandidate(id: 2, logit: 1.5)])
        var penalised: [Float] = [2, -2, 1.5, 0]
        SamplingFilters.applyPenalties(&penalised, recent: [0, 1, 0, 3], repeat: 2)
        #expect(penalised == [1, -4, 1.5, 0])
    }

    @Test func repeatWindowOnlyLooksAtTheLastN() throws {
        let recent: [Int32] = [0, 1]  // token 0 is outside a window of 1
        let windowed = SamplingParameters(temperature: 0, repeatPenalty: 4, repeatLastN: 1)
        #expect(
            try Sampler(parameters: windowed).sample(
                logits: [2, 1.9], recentTokens: recent, position: 0) == 0)
        let everything = SamplingParameters(temperature: 0, repeatPenalty: 4, repeatLastN: -1)
        #expect(
            try Sampler(parameters: everything).sample(
                logits: [2, 1.9, 1], recentTokens: recent, position: 0) == 2)
        let off = SamplingParameters(temperature: 0, repeatPenalty: 4, repeatLastN: 0)
        #expect(
            try Sampler(parameters: off).sample(
                logits: [2, 1.9], recentTokens: recent, position: 0) == 0)
    }

    @Test func ignoreEOSNeverSamplesEndOfGeneration() throws {
        let parameters = SamplingParameters(temperature: 0, ignoreEOS: true)
        #expect(
            try Sampler(parameters: parameters).sample(
                logits: [5, 1, 2], position: 0, endOfGeneration: [0]) == 2)
        #expect(
            try Sampler(parameters: .greedy).sample(
                logits: [5, 1, 2], position: 0, endOfGeneration: [0]) == 0)
    }

    @Test func invalidInputThrowsNamedErrors() throws {
        #expect(
            throws: SamplingError.invalidParameter(
                name: "temperature", value: "-1.0", rule: "must be finite and >= 0")
        ) {
            try Sampler(parameters: SamplingParameters(temperature: -1))
        }
        #expect(throws: SamplingError.self) { try Sampler(parameters: SamplingParameters(topP: 0)) }
        #expect(throws: SamplingError.self) { try Sampler(parameters: SamplingParameters(minP: 2)) }
        #expect(throws: SamplingError.self) {
            try Sampler(parameters: SamplingParameters(stopStrings: [""]))
        }
        let sampler = try Sampler(parameters: SamplingParameters())
        #expect(throws: SamplingError.emptyLogits) { try sampler.sample(logits: [], position: 0) }
        #expect(throws: SamplingError.noFiniteLogits) {
            try sampler.sample(logits: [.nan, -.infinity], position: 0)
        }
    }
}
