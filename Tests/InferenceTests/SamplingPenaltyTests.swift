import Foundation
import Testing

@testable import Inference

/// Logit bias, OpenAI's presence and frequency penalties (in llama.cpp's penalties step) and
/// log-probabilities, on small vectors whose results are worked out by hand.
@Suite struct SamplingPenaltyTests {
    private func greedy(
        _ logits: [Float], recent: [Int32] = [], repeatPenalty: Float = 1, repeatLastN: Int = 64,
        presence: Float = 0, frequency: Float = 0, bias: [Int32: Float] = [:]
    ) throws -> TokenCandidate {
        let parameters = SamplingParameters(
            temperature: 0, topK: 0, topP: 1, minP: 0, repeatPenalty: repeatPenalty,
            repeatLastN: repeatLastN, presencePenalty: presence, frequencyPenalty: frequency,
            logitBias: bias)
        return try #require(
            try Sampler(parameters: parameters).finalCandidates(
                logits: logits, recentTokens: recent
            )
            .first)
    }

    @Test func logitBiasIsAddedBeforeChoosing() throws {
        #expect(try greedy([1, 2, 3], bias: [0: 5]) == TokenCandidate(id: 0, logit: 6))
        #expect(try greedy([1, 2, 3], bias: [2: -100]) == TokenCandidate(id: 1, logit: 2))
        // Ids outside the vector are ignored (the gateway refuses them).
        #expect(try greedy([1, 2, 3], bias: [7: 100]).id == 2)
    }

    @Test func frequencyCountsOccurrencesPresenceCountsOnce() {
        // Token 0 twice, token 1 once: 2 - 2(0.5) - 0.25 = 0.75; 1.5 - 0.5 - 0.25 = 0.75.
        var logits: [Float] = [2, 1.5, 1]
        SamplingFilters.applyPenalties(
            &logits, recent: [0, 0, 1], repeat: 1, frequency: 0.5, presence: 0.25)
        #expect(logits == [0.75, 0.75, 1])
    }

    @Test func penaltiesStackOnTheRepetitionPenalty() {
        // llama.cpp: divide (or multiply) first, then subtract. 2/2 - 0.5 - 0.5 = 0;
        // -1*2 - 2(0.5) - 0.5 = -3.5.
        var logits: [Float] = [2, -1, 4]
        SamplingFilters.applyPenalties(
            &logits, recent: [0, 1, 1], repeat: 2, frequency: 0.5, presence: 0.5)
        #expect(logits == [0, -3.5, 4])
    }

    @Test func negativePenaltiesEncourageRepetition() throws {
        // 1 + 2(1) = 3 beats 1.5.
        #expect(try greedy([1, 1.5], recent: [0, 0], frequency: -1) == .init(id: 0, logit: 3))
        #expect(try greedy([1, 1.5], recent: [0, 0], presence: -1) == .init(id: 0, logit: 2))
    }

    @Test func penaltiesLookAtTheRepeatWindow() throws {
        // Window of 1: only token 1 is penalised (1.9 - 2), token 0 keeps 2; the whole
        // sequence penalises both (0 and -0.1), so token 2 (1) wins.
        #expect(try greedy([2, 1.9], recent: [0, 1], repeatLastN: 1, presence: 2).id == 0)
        #expect(try greedy([2, 1.9, 1], recent: [0, 1], repeatLastN: -1, presence: 2).id == 2)
    }

    @Test func biasComesBeforePenalties() throws {
        // (1 + 1) / 2 = 1; the other order would give 1/2 + 1 = 1.5.
        #expect(try greedy([1], recent: [0], repeatPenalty: 2, bias: [0: 1]).logit == 1)
    }

    @Test func rangesAreOpenAIs() throws {
        func error(_ parameters: SamplingParameters) -> String? {
            do {
                try parameters.validate()
                return nil
            } catch {
                return error.parameterName
            }
        }
        #expect(error(SamplingParameters(presencePenalty: 2, frequencyPenalty: -2)) == nil)
        #expect(error(SamplingParameters(presencePenalty: 2.5)) == "presence_penalty")
        #expect(error(SamplingParameters(frequencyPenalty: -2.01)) == "frequency_penalty")
        #expect(error(SamplingParameters(frequencyPenalty: .nan)) == "frequency_penalty")
        #expect(error(SamplingParameters(logitBias: [3: 100, 4: -100])) == nil)
        #expect(error(SamplingParameters(logitBias: [3: 100.5])) == "logit_bias")
        #expect(error(SamplingParameters(logitBias: [-1: 1])) == "logit_bias")
        let inVocabulary = SamplingParameters(logitBias: [9: 1])
        #expect(throws: Never.self) { try inVocabulary.validate(vocabularySize: 10) }
        #expect(
            throws: SamplingError.invalidParameter(
                name: "logit_bias", value: "10",
                rule: "is not a token id of this model (vocabulary 0..<10)")
        ) { try SamplingParameters(logitBias: [10: 1]).validate(vocabularySize: 10) }
    }

    @Test func logProbabilitiesAreTheLogSoftmaxOfTheRawLogits() {
        // Probabilities 1/4 and 3/4; -infinity and NaN have none.
        let logits: [Float] = [0, Float(log(3.0)), -.infinity, .nan]
        let logSumExp = LogProbabilities.logSumExp(logits)
        #expect(abs(logSumExp - log(4.0)) < 1e-6)
        #expect(
            abs(LogProbabilities.logprob(logits[0], logSumExp: logSumExp) - Float(log(0.25))) < 1e-6
        )
        #expect(
            abs(LogProbabilities.logprob(logits[1], logSumExp: logSumExp) - Float(log(0.75))) < 1e-6
        )
        // Large logits do not overflow.
        let large: [Float] = [1000, 1000]
        #expect(abs(LogProbabilities.logSumExp(large) - (1000 + log(2.0))) < 1e-9)
        #expect(LogProbabilities.logSumExp([-.infinity]) == -.infinity)
    }
}
