/// Scratch buffers for one forward pass, sized for a batch of up to `capacity` tokens and
/// reused between calls so the hot path does not allocate.
final class StageWorkspace {
    private(set) var capacity = 0
    private(set) var scoreStride = 0
    private let embeddingLength: Int
    private let queryWidth: Int
    private let kvWidth: Int
    /// Row width of a fused projection's output (fused QKV or gate-up), 0 without one.
    private let fusedWidth: Int
    private let feedForwardLength: Int
    private let threads: Int
    /// Attention score rows each thread needs at once: the query heads of one KV group.
    private let scoreRows: Int

    private(set) var hidden: UnsafeMutablePointer<Float>!
    private(set) var normalized: UnsafeMutablePointer<Float>!
    private(set) var queries: UnsafeMutablePointer<Float>!
    private(set) var keys: UnsafeMutablePointer<Float>!
    private(set) var values: UnsafeMutablePointer<Float>!
    private(set) var attention: UnsafeMutablePointer<Float>!
    private(set) var projected: UnsafeMutablePointer<Float>!
    private(set) var gate: UnsafeMutablePointer<Float>!
    private(set) var up: UnsafeMutablePointer<Float>!
    private(set) var scores: UnsafeMutablePointer<Float>!
    /// A fused projection's output before it is split into its parts.
    private(set) var fused: UnsafeMutablePointer<Float>!

    init(
        embeddingLength: Int, queryWidth: Int, kvWidth: Int, feedForwardLength: Int,
        fusedWidth: Int, threads: Int, scoreRows: Int
    ) {
        self.embeddingLength = embeddingLength
        self.queryWidth = queryWidth
        self.kvWidth = kvWidth
        self.fusedWidth = fusedWidth
        self.feedForwardLength = feedForwardLength
        self.threads = threads
        self.scoreRows = scoreRows
    }

    deinit { release() }

    /// Makes room for `tokens` tokens and attention over `contextLength` positions.
    func reserve(tokens: Int, contextLength: Int) {
        if tokens > capacity {
            release()
            capacity = tokens
            hidden = .allocate(capacity: tokens * embeddingLength)
            normalized = .allocate(capacity: tokens * embeddingLength)
            queries = .allocate(capacity: tokens * queryWidth)
            keys = .allocate(capacity: tokens * kvWidth)
            values = .allocate(capacity: tokens * kvWidth)
            attention = .allocate(capacity: tokens * queryWidth)
            projected = .allocate(capacity: tokens * embeddingLength)
            gate = .allocate(capacity: tokens * feedForwardLength)
            up = .allocate(capacity: tokens * feedForwardLength)
            fused = .allocate(capacity: max(tokens * fusedWidth, 1))
            scoreStride = 0
        }
        if contextLength > scoreStride {
            scores?.deallocate()
            scoreStride = contextLength
            scores = .allocate(capacity: threads * scoreRows * contextLength)
        }
    }

    private func release() {
        guard capacity > 0 else { return }
        for buffer in [
            hidden, normalized, queries, keys, values, attention, projected, gate, up, fused,
        ] {
            buffer?.deallocate()
        }
        scores?.deallocate()
        scores = nil
        capacity = 0
    }
}
