import Kernels

/// One session's part of a batched pass: a decode token, or a chunk of its prompt (tokens on
/// the first stage, rows of hidden states on the others), at the session's current position.
public struct BatchStep: @unchecked Sendable {
    public let session: StageSession
    public let input: StageInput

    public init(session: StageSession, input: StageInput) {
        self.session = session
        self.input = input
    }
}

extension TransformerStage {
    /// Runs the steps of several sessions as one pass: every weight matrix is read once for
    /// all their rows, attention runs per session over its own KV cache. Decode tokens and
    /// prompt chunks share the pass (continuous batching with chunked prefill). Each output is
    /// the step's hidden rows, or on the last stage the logits of its last row.
    ///
    /// Batch invariance: each session's output is bit-identical to `forward` of its step
    /// alone, and a prompt gives the same bits however it is cut into chunks. The matrix
    /// products take the row-wise path (each token's dot products never depend on the other
    /// tokens of the call), and norms, rotary embedding and attention are per row already.
    /// Greedy output therefore does not depend on load, and a failover replay or a verifier
    /// can recompute a session alone, in one prefill.
    public func forward(batch steps: [BatchStep]) throws -> [StageOutput] {
        lock.lock()
        defer { lock.unlock() }
        guard !steps.isEmpty else { return [] }
        var seen = Set<ObjectIdentifier>()
        var counts: [Int] = []
        for step in steps {
            let session = step.session
            guard session.ownerID == ObjectIdentifier(self) else {
                throw InferenceError.wrongInput("the session was made by a different stage")
            }
            guard seen.insert(ObjectIdentifier(session)).inserted else {
                throw InferenceError.wrongInput("a session appears twice in one batch")
            }
            let count = try validate(step.input)
            guard session.position + count <= session.contextLength else {
                throw InferenceError.contextOverflow(
                    position: session.position, tokens: count, contextLength: session.contextLength)
            }
            counts.append(count)
        }
        let total = counts.reduce(0, +)
        guard total <= Self.maxBatch else {
            throw InferenceError.wrongInput(
                "a batch holds at most \(Self.maxBatch) rows, not \(total)")
        }
        workspace.reserve(
            tokens: total, contextLength: steps.map(\.session.contextLength).max() ?? 0)
        var spans: [RowSpan] = []
        var row = 0
        for (step, count) in zip(steps, counts) {
            try loadInput(step.input, from: 0, count: count, toRow: row)
            spans.append(
                RowSpan(
                    session: step.session, start: step.session.position, rows: row..<(row + count)))
            row += count
        }
        for layerIndex in 0..<weights.layers.count {
            try runLayer(layerIndex, batch: total, spans: spans, path: .independentRows)
        }
        for (step, count) in zip(steps, counts) { step.session.position += count }
        return try outputs(of: spans)
    }

    /// Each span's hidden rows, or on the last stage the logits of its last row.
    private func outputs(of spans: [RowSpan]) throws -> [StageOutput] {
        let hp = hyperparameters
        let width = hp.embeddingLength
        guard isLast else {
            var outputs: [StageOutput] = []
            for span in spans {
                let start = workspace.hidden + span.rows.lowerBound * width
                let values = Array(
                    UnsafeBufferPointer(start: start, count: span.rows.count * width))
                outputs.append(StageOutput.hidden(values, count: span.rows.count))
            }
            return outputs
        }
        // Each span's last row moves up to row i, so one product over rows 0..<spans reads
        // the output matrix (the largest) once for all. Row i's source is at or after row i
        // and after every earlier destination, so no source is overwritten before it is read.
        for (index, span) in spans.enumerated() {
            let lastRow = span.rows.upperBound - 1
            if lastRow != index {
                (workspace.hidden + index * width).update(
                    from: workspace.hidden + lastRow * width, count: width)
            }
        }
        let vocabulary = hp.vocabularySize
        var logits = [Float](repeating: 0, count: spans.count * vocabulary)
        try logits.withUnsafeMutableBufferPointer { buffer in
            try projectLogits(
                rows: 0..<spans.count, into: buffer.baseAddress!, path: .independentRows)
        }
        var outputs: [StageOutput] = []
        for index in 0..<spans.count {
            let row: ArraySlice<Float> = logits[(index * vocabulary)..<((index + 1) * vocabulary)]
            outputs.append(StageOutput.logits(Array(row), count: 1))
        }
        return outputs
    }
}
