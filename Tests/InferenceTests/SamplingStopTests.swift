import Foundation
import GGUF
import Testing
import Tokenization

@testable import Inference

@Suite struct SamplingStopTests {
    @Test func stopStringSplitAcrossChunksIsCut() {
        var matcher = StopStringMatcher(stopStrings: ["END"])
        #expect(matcher.append("abc E") == "abc ")  // "E" might start END: held
        #expect(matcher.append("N") == "")
        #expect(matcher.append("Dxyz") == "")
        #expect(matcher.isStopped && matcher.matchedStopString == "END")
        #expect(matcher.finish() == "")
    }

    @Test func falseStartsAreReleased() {
        var matcher = StopStringMatcher(stopStrings: ["END", "\n\n"])
        #expect(matcher.append("EN") == "")
        #expect(matcher.append("X and\n") == "ENX and")
        #expect(matcher.append("more") == "\nmore")
        #expect(matcher.finish() == "")
        var tail = StopStringMatcher(stopStrings: ["END"])
        #expect(tail.append("the E") == "the ")
        #expect(tail.finish() == "E")  // generation ended for another reason
    }

    @Test func earliestStopStringWins() {
        var matcher = StopStringMatcher(stopStrings: ["world", "lo"])
        #expect(matcher.append("hello world") == "hel")
        #expect(matcher.matchedStopString == "lo")
    }

    struct MissingModel: Error, CustomStringConvertible {
        let path: String
        var description: String { "model not found at \(path): run scripts/fetch-model first" }
    }

    private func tokenizer() throws -> Tokenizer {
        let path = ModelLocator.path(forName: ModelLocator.defaultModelName)
        guard FileManager.default.fileExists(atPath: path) else { throw MissingModel(path: path) }
        return try Tokenizer(path: path)
    }

    /// Tokens of the real vocabulary; the stop string straddles token boundaries.
    @Test func stopConditionCutsAtStopStringAcrossTokens() throws {
        let tokenizer = try tokenizer()
        let ids = tokenizer.encode("Hello world<STOP>never shown")
        var condition = StopCondition(
            parameters: SamplingParameters(stopStrings: ["<STOP>"], maxTokens: 100),
            tokenizer: tokenizer)
        var text = ""
        for id in ids where !condition.isStopped { text += try condition.accept(id) }
        #expect(text == "Hello world")
        #expect(condition.reason == .stopString("<STOP>"))
    }

    @Test func stopConditionEndsOnEOSAndBudget() throws {
        let tokenizer = try tokenizer()
        let eos = try #require(tokenizer.eosTokenID)
        var condition = StopCondition(
            parameters: SamplingParameters(maxTokens: 10), tokenizer: tokenizer)
        var text = ""
        for id in tokenizer.encode("Hi there") + [eos] { text += try condition.accept(id) }
        #expect(text == "Hi there")
        #expect(condition.reason == .endOfGeneration(eos))

        var budget = StopCondition(
            parameters: SamplingParameters(maxTokens: 2), tokenizer: tokenizer)
        let ids = tokenizer.encode("one two three four")
        var emitted = ""
        for id in ids where !budget.isStopped { emitted += try budget.accept(id) }
        #expect(budget.reason == .maxTokens && budget.generatedCount == 2)
        #expect(emitted == (try tokenizer.decode(Array(ids.prefix(2)))))

        var ignoring = StopCondition(
            parameters: SamplingParameters(ignoreEOS: true, maxTokens: 5), tokenizer: tokenizer)
        _ = try ignoring.accept(eos)
        #expect(!ignoring.isStopped)
    }
}
