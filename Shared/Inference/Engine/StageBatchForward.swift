import Kernels

/// One session's decode step in a batched forward: one token (first stage) or one row of
/// hidden states.
public struct DecodeStep: @unchecked Sendable {
    public let session: StageSession
    public let input: StageInput

    public init(session: StageSession, input: StageInput) {
        self.session = session
        self.input = input
    }
}

extension TransformerStage {
    /// Runs one decode step of each of several sessions as one pass: every weight matrix is
    /// read once for all of them, attention runs per session over its own KV cache.
    ///
    /// Batch invariance: each session's output is bit-identical to `forward` of its step
    /// alone. The matrix products take the row-wise path for every batch size (each token's
    /// dot products never depend on the other tokens of the call), and norms, rotary
    /// embedding and attention are per row already. Greedy output therefore does not depend
    /// on load, and a failover replay or a verifier can recompute a session alone.
    public func forward(decoding steps: [DecodeStep]) throws -> [StageOutput] {
        lock.lock()
        defer { lock.unlock() }
        guard !steps.isEmpty else { return [] }
        guard steps.count <= Self.maxBatch else {
            throw InferenceError.wrongInput(
                "a batch holds at most \(Self.maxBatch) sessions, not \(steps.count)")
        }
        var seen = Set<ObjectIdentifier>()
        for step in steps {
            let session = step.session
            guard session.ownerID == ObjectIdentifier(self) else {
                throw InferenceError.wrongInput("the session was made by a different stage")
            }
            guard seen.insert(ObjectIdentifier(session)).inserted else {
                throw InferenceError.wrongInput("a session appears twice in one batch")
            }
            guard try validate(step.input) == 1 else {
                throw InferenceError.wrongInput("a batched decode step holds exactly one token")
            }
            guard session.position + 1 <= session.contextLength else {
                throw InferenceError.contextOverflow(
                    position: session.position, tokens: 1, contextLength: session.contextLength)
            }
        }
        let count = steps.count
        workspace.reserve(
            tokens: count, contextLength: steps.map(\.session.contextLength).max() ?? 0)
        var spans: [RowSpan] = []
        for (row, step) in steps.enumerated() {
            try loadInput(step.input, from: 0, count: 1, toRow: row)
            spans.append(
                RowSpan(session: step.session, start: step.session.position, rows: row..<(row + 1)))
        }
        for layerIndex in 0..<weights.layers.count {
            try runLayer(layerIndex, batch: count, spans: spans, path: .independentRows)
        }
        for step in steps { step.session.position += 1 }

        let hp = hyperparameters
        let rowWidth = isLast ? hp.vocabularySize : hp.embeddingLength
        var values = [Float](repeating: 0, count: count * rowWidth)
        try values.withUnsafeMutableBufferPointer { buffer in
            let out = buffer.baseAddress!
            if isLast {
                try projectLogits(rows: 0..<count, into: out, path: .independentRows)
            } else {
                out.update(from: workspace.hidden, count: count * rowWidth)
            }
        }
        return (0..<count).map { row in
            let slice = Array(values[(row * rowWidth)..<((row + 1) * rowWidth)])
            return isLast ? .logits(slice, count: 1) : .hidden(slice, count: 1)
        }
    }
}
