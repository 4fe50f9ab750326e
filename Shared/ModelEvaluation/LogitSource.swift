import Inference

/// Something that turns a window of tokens into every position's logits, from an empty
/// cache: a whole-model stage, or a chain of stages cut from different files (a mixed plan).
public protocol LogitSource {
    var vocabularySize: Int { get }
    func allLogits(_ tokens: [Int32]) throws -> [Float]
}

extension TransformerStage: LogitSource {
    public var vocabularySize: Int { hyperparameters.vocabularySize }

    public func allLogits(_ tokens: [Int32]) throws -> [Float] {
        let session = try makeSession(contextLength: tokens.count)
        return try forward(.tokens(tokens), session: session, allLogits: true).values
    }
}

/// Stages over consecutive layer ranges, run one after the other (each may come from another
/// file: the reference for some ranges, a variant for others).
public struct StageChain: LogitSource {
    public let stages: [TransformerStage]

    public init(_ stages: [TransformerStage]) throws {
        guard let first = stages.first, let last = stages.last, first.isFirst, last.isLast else {
            throw EvaluationError.incompleteChain
        }
        for (earlier, later) in zip(stages, stages.dropFirst())
        where earlier.layers.upperBound != later.layers.lowerBound {
            throw EvaluationError.incompleteChain
        }
        self.stages = stages
    }

    public var vocabularySize: Int { stages[0].hyperparameters.vocabularySize }

    public func allLogits(_ tokens: [Int32]) throws -> [Float] {
        var input = StageInput.tokens(tokens)
        for stage in stages {
            let session = try stage.makeSession(contextLength: tokens.count)
            switch try stage.forward(input, session: session, allLogits: true) {
            case .hidden(let values, let count): input = .hidden(values, count: count)
            case .logits(let values, _): return values
            }
        }
        throw EvaluationError.incompleteChain
    }
}
