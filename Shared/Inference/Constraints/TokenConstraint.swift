/// One session's output constraint: the grammar, where the output has got to in it, and
/// which tokens may come next. A value: the session that owns it advances it.
public struct TokenConstraint: Sendable {
    public let matcher: GrammarMatcher
    public let vocabulary: TokenVocabulary
    public private(set) var state: GrammarMatcher.State
    /// Output tokens accepted so far.
    public private(set) var acceptedCount = 0

    public init(grammar: Grammar, vocabulary: TokenVocabulary) {
        matcher = GrammarMatcher(grammar: grammar)
        self.vocabulary = vocabulary
        state = matcher.initialState
    }

    /// Whether `token` may be sampled next: its bytes continue a valid prefix, or it ends
    /// generation and the output is complete.
    public func allows(_ token: Int32) -> Bool {
        guard token >= 0, Int(token) < vocabulary.count else { return false }
        if vocabulary.endOfGeneration.contains(token) { return state.isComplete }
        let piece = vocabulary.pieces[Int(token)]
        return !piece.isEmpty && matcher.accepts(piece, from: state)
    }

    /// Moves past `token`; throws if the constraint does not allow it.
    public mutating func accept(_ token: Int32) throws(ConstraintError) {
        guard allows(token) else {
            throw ConstraintError(
                path: "output token \(acceptedCount)",
                reason: "token \(token) does not continue a document of the response format")
        }
        if !vocabulary.endOfGeneration.contains(token) {
            state = matcher.advance(state, bytes: vocabulary.pieces[Int(token)])
        }
        acceptedCount += 1
    }

    /// Back to the start (a session rewound into its output).
    public mutating func reset() {
        state = matcher.initialState
        acceptedCount = 0
    }
}
