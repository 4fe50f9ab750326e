import Kernels

extension TransformerStage {
    /// Runs `input` through the stage's layers at the session's current position and
    /// advances the session. Prefill (many tokens) and decode (one token) are the same call.
    ///
    /// The last stage returns logits for the last input token, or for every input token when
    /// `allLogits` is true (teacher forcing, scoring); other stages return hidden states.
    public func forward(_ input: StageInput, session: StageSession, allLogits: Bool = false) throws
        -> StageOutput
    {
        lock.lock()
        defer { lock.unlock() }
        let hp = hyperparameters
        let width = hp.embeddingLength
        guard session.ownerID == ObjectIdentifier(self) else {
            throw InferenceError.wrongInput("the session was made by a different stage")
        }
        let count = try validate(input)
        guard session.position + count <= session.contextLength else {
            throw InferenceError.contextOverflow(
                position: session.position, tokens: count, contextLength: session.contextLength)
        }

        let vocabulary = hp.vocabularySize
        let outputCount = isLast ? (allLogits ? count : 1) * vocabulary : count * width
        var outputValues = [Float](repeating: 0, count: outputCount)
        try outputValues.withUnsafeMutableBufferPointer { outputBuffer in
            let out = outputBuffer.baseAddress!
            var batchStart = 0
            while batchStart < count {
                let batch = min(Self.maxBatch, count - batchStart)
                workspace.reserve(tokens: batch, contextLength: session.contextLength)
                try loadInput(input, from: batchStart, count: batch)
                for layerIndex in 0..<weights.layers.count {
                    try runLayer(layerIndex, batch: batch, session: session)
                }
                session.position += batch
                if !isLast {
                    out.advanced(by: batchStart * width).update(
                        from: workspace.hidden, count: batch * width)
                } else if allLogits {
                    try projectLogits(rows: 0..<batch, into: out + batchStart * vocabulary)
                } else if batchStart + batch == count {
                    try projectLogits(rows: (batch - 1)..<batch, into: out)
                }
                batchStart += batch
            }
        }
        if isLast { return .logits(outputValues, count: allLogits ? count : 1) }
        return .hidden(outputValues, count: count)
    }

    /// Checks the input against the stage's role and the model; returns the token count.
    private func validate(_ input: StageInput) throws -> Int {
        switch input {
        case .tokens(let tokens):
            guard isFirst else {
                throw InferenceError.wrongInput(
                    "stage [\(layers.lowerBound), \(layers.upperBound)) takes hidden states, not tokens"
                )
            }
            guard !tokens.isEmpty else { throw InferenceError.emptyInput }
            let vocabulary = hyperparameters.vocabularySize
            if let bad = tokens.first(where: { $0 < 0 || Int($0) >= vocabulary }) {
                throw InferenceError.tokenOutOfRange(token: bad, vocabularySize: vocabulary)
            }
            return tokens.count
        case .hidden(let values, let count):
            guard !isFirst else {
                throw InferenceError.wrongInput(
                    "the first stage takes token ids, not hidden states")
            }
            let width = hyperparameters.embeddingLength
            guard count > 0, values.count == count * width else {
                throw InferenceError.hiddenSizeMismatch(expected: width, actual: values.count)
            }
            return count
        }
    }

    private func loadInput(_ input: StageInput, from start: Int, count: Int) throws {
        let width = hyperparameters.embeddingLength
        switch input {
        case .tokens(let tokens):
            guard let embedding = weights.embedding else {
                throw InferenceError.missingTensor(name: "token_embd.weight")
            }
            for index in 0..<count {
                try embedding.decodeRow(
                    Int(tokens[start + index]), into: workspace.hidden + index * width)
            }
        case .hidden(let values, _):
            values.withUnsafeBufferPointer { source in
                workspace.hidden.update(
                    from: source.baseAddress! + start * width, count: count * width)
            }
        }
    }

    /// One transformer block over the workspace's hidden states (pre-norm, GQA, SwiGLU).
    private func runLayer(_ layerIndex: Int, batch: Int, session: StageSession) throws {
        let hp = hyperparameters
        let layer = weights.layers[layerIndex]
        let ws = workspace
        let width = hp.embeddingLength
        let kvWidth = hp.kvWidth
        let start = session.position

        RMSNorm.apply(
            ws.hidden, weight: layer.attentionNorm, width: width, rows: batch,
            epsilon: hp.rmsEpsilon,
            output: ws.normalized)
        try multiplier.multiply(
            [
                MatmulTarget(layer.query, output: ws.queries),
                MatmulTarget(layer.key, output: ws.keys),
                MatmulTarget(layer.value, output: ws.values),
            ],
            input: ws.normalized, tokens: batch)
        for token in 0..<batch {
            rotary.apply(ws.queries + token * width, heads: hp.headCount, position: start + token)
            rotary.apply(ws.keys + token * kvWidth, heads: hp.kvHeadCount, position: start + token)
            session.store(
                layer: layerIndex, position: start + token, keys: ws.keys + token * kvWidth,
                values: ws.values + token * kvWidth)
        }
        attention.run(
            queries: ws.queries, batch: batch, startPosition: start, layer: layerIndex,
            session: session,
            output: ws.attention, scores: ws.scores, scoreStride: ws.scoreStride, pool: pool)
        try multiplier.multiply(
            [MatmulTarget(layer.attentionOutput, output: ws.projected)], input: ws.attention,
            tokens: batch)
        VectorAdd.apply(ws.hidden, adding: ws.projected, count: batch * width)

        RMSNorm.apply(
            ws.hidden, weight: layer.feedForwardNorm, width: width, rows: batch,
            epsilon: hp.rmsEpsilon,
            output: ws.normalized)
        try multiplier.multiply(
            [MatmulTarget(layer.gate, output: ws.gate), MatmulTarget(layer.up, output: ws.up)],
            input: ws.normalized, tokens: batch)
        SwiGLU.apply(gate: ws.gate, up: ws.up, count: batch * hp.feedForwardLength, output: ws.gate)
        try multiplier.multiply(
            [MatmulTarget(layer.down, output: ws.projected)], input: ws.gate, tokens: batch)
        VectorAdd.apply(ws.hidden, adding: ws.projected, count: batch * width)
    }

    /// Final norm and output projection of the given batch rows into `destination`.
    private func projectLogits(rows: Range<Int>, into destination: UnsafeMutablePointer<Float>)
        throws
    {
        guard let norm = weights.outputNorm, let output = weights.output else {
            throw InferenceError.missingTensor(name: "output_norm.weight")
        }
        let width = hyperparameters.embeddingLength
        RMSNorm.apply(
            workspace.hidden + rows.lowerBound * width, weight: norm, width: width,
            rows: rows.count,
            epsilon: hyperparameters.rmsEpsilon, output: workspace.normalized)
        try multiplier.multiply(
            [MatmulTarget(output, output: destination)], input: workspace.normalized,
            tokens: rows.count)
    }
}
