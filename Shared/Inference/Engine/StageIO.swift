import Kernels

/// How a forward pass multiplies (re-exported so callers need not import Kernels).
public typealias MatmulPath = Kernels.MatmulPath

/// What a stage consumes: token ids (first stage) or the previous stage's hidden states.
public enum StageInput: Sendable {
    case tokens([Int32])
    /// `count` tokens' hidden states, `count × embeddingLength` floats, token-major.
    case hidden([Float], count: Int)
}

/// What a stage produces: hidden states for the next stage, or logits from the last one.
public enum StageOutput: Sendable {
    /// `count` tokens' hidden states, `count × embeddingLength` floats, token-major.
    case hidden([Float], count: Int)
    /// `count` rows of `vocabularySize` logits: the last token only, or every input token
    /// when `allLogits` was requested.
    case logits([Float], count: Int)

    public var values: [Float] {
        switch self {
        case .hidden(let values, _), .logits(let values, _): values
        }
    }
}
