import Tokenization

/// The bytes each token writes, as the constraint sees them: control and unused tokens write
/// nothing and are never allowed, except end-of-generation once the output is complete.
public struct TokenVocabulary: Sendable {
    public let pieces: [[UInt8]]
    public let endOfGeneration: Set<Int32>

    public init(pieces: [[UInt8]], endOfGeneration: Set<Int32>) {
        self.pieces = pieces
        self.endOfGeneration = endOfGeneration
    }

    public init(tokenizer: Tokenizer) {
        pieces = (0..<Int32(tokenizer.vocabularySize)).map { (try? tokenizer.piece(for: $0)) ?? [] }
        endOfGeneration = tokenizer.endOfGenerationTokenIDs
    }

    public var count: Int { pieces.count }
}
