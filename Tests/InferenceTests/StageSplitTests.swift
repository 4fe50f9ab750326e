import GGUF
import Inference
import Testing

/// Running the model in pieces must give exactly the numbers of running it whole.
@Suite struct StageSplitTests {
    static let prompt: [Int32] = [504, 3575, 282, 4649, 314, 7042, 30, 378, 3575, 282, 4536, 314]
    static let decodeTokens: [Int32] = [17542, 30]
    static let threads = 2

    /// Logits for every prompt position, then for each decode step, from a chain of stages.
    static func run(_ stages: [TransformerStage]) throws -> [[Float]] {
        let sessions = try stages.map { try $0.makeSession(contextLength: 32) }
        func step(_ tokens: [Int32], all: Bool) throws -> [Float] {
            var output = try stages[0].forward(
                .tokens(tokens), session: sessions[0], allLogits: all)
            for index in 1..<stages.count {
                guard case .hidden(let values, let count) = output else { throw Unexpected() }
                output = try stages[index].forward(
                    .hidden(values, count: count), session: sessions[index], allLogits: all)
            }
            guard case .logits(let logits, _) = output else { throw Unexpected() }
            return logits
        }
        var results = [try step(prompt, all: true)]
        for token in decodeTokens { results.append(try step([token], all: false)) }
        return results
    }

    struct Unexpected: Error {}

    @Test(arguments: [1, 10, 15, 29])
    func twoStagesMatchTheWholeModelBitForBit(split: Int) throws {
        let file = try TestModel.file()
        let whole = try Self.run([
            try TransformerStage(file: file, layers: 0..<30, threads: Self.threads)
        ])
        let pieces = try Self.run([
            try TransformerStage(file: file, layers: 0..<split, threads: Self.threads),
            try TransformerStage(file: file, layers: split..<30, threads: Self.threads),
        ])
        #expect(whole.count == pieces.count)
        for (a, b) in zip(whole, pieces) {
            #expect(a.map(\.bitPattern) == b.map(\.bitPattern))
        }
    }

    @Test func middleStagesHandHiddenStatesOnExactly() throws {
        let file = try TestModel.file()
        let first = try TransformerStage(file: file, layers: 0..<8, threads: Self.threads)
        let middle = try TransformerStage(file: file, layers: 8..<20, threads: Self.threads)
        let joined = try TransformerStage(file: file, layers: 0..<20, threads: Self.threads)
        #expect(first.isFirst && !first.isLast && !middle.isFirst && !middle.isLast)
        let s1 = try first.makeSession(contextLength: 16)
        let s2 = try middle.makeSession(contextLength: 16)
        let s3 = try joined.makeSession(contextLength: 16)
        for tokens in [Array(Self.prompt.prefix(6)), [Self.prompt[6]]] {
            guard case .hidden(let h1, let n1) = try first.forward(.tokens(tokens), session: s1),
                case .hidden(let h2, let n2) = try middle.forward(
                    .hidden(h1, count: n1), session: s2),
                case .hidden(let h3, let n3) = try joined.forward(.tokens(tokens), session: s3)
            else { throw Unexpected() }
            #expect(n2 == tokens.count && n3 == tokens.count)
            #expect(h2.map(\.bitPattern) == h3.map(\.bitPattern))
        }
        #expect(s1.position == 7 && s2.position == 7 && s3.position == 7)
    }

    /// Three stages: first, middle, last.
    @Test func threeStagesMatchTheWholeModel() throws {
        let file = try TestModel.file()
        let whole = try Self.run([
            try TransformerStage(file: file, layers: 0..<30, threads: Self.threads)
        ])
        let pieces = try Self.run([
            try TransformerStage(file: file, layers: 0..<5, threads: Self.threads),
            try TransformerStage(file: file, layers: 5..<21, threads: Self.threads),
            try TransformerStage(file: file, layers: 21..<30, threads: Self.threads),
        ])
        for (a, b) in zip(whole, pieces) { #expect(a.map(\.bitPattern) == b.map(\.bitPattern)) }
    }
}
