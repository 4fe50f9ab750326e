import Kernels

extension TransformerStage {
    /// Runs `input` through the stage's layers at the session's current position and
    /// advances the session. Prefill (many tokens) and decode (one token) are the same call.
    ///
    /// The last stage returns logits for the last input token, or for every input token when
    /// `allLogits` is true (teacher forcing, scoring); other stages return hidden states.
    ///
    /// `path`: by default every token is computed exactly as a decode step of that token alone
    /// would be (`.independentRows`): a prompt gives the same bits in one call, in chunks, or
    /// batched with other sessions (`forward(batch:)`), so a failover or a verifier can
    /// recompute it any way. `.fastest` (decoded float tiles for 4+ tokens, about 1.2x faster
    /// prefill on this engine, different rounding) is for single-process speed comparisons.
    public func forward(
        _ input: StageInput, session: StageSession, allLogits: Bool = false,
        path: MatmulPath = .independentRows
    ) throws -> StageOutput {
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
                let spans = [RowSpan(session: session, start: session.position, rows: 0..<batch)]
                for layerIndex in 0..<weights.layers.count {
                    try runLayer(layerIndex, batch: batch, spans: spans, path: path)
                }
                session.position += batch
                if !isLast {
                    out.advanced(by: batchStart * width).update(
                        from: workspace.hidden, count: batch * width)
                } else if allLogits {
                    try projectLogits(
                        rows: 0..<batch, into: out + batchStart * vocabulary, path: path)
                } else if batchStart + batch == count {
                    try projectLogits(rows: (batch - 1)..<batch, into: out, path: path)
                }
                batchStart += batch
            }
        }
        if isLast { return .logits(outputValues, count: allLogits ? count : 1) }
        return .hidden(outputValues, count: count)
    }

    /// Checks the input against the stage's role and the model; returns the token count.
    func validate(_ input: StageInput) throws -> Int {
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

    /// Puts `count` rows of `input`, from its row `start`, into the workspace from row `row`.
    func loadInput(_ input: StageInput, from start: Int, count: Int, toRow row: Int = 0) throws {
        let width = hyperparameters.embeddingLength
        let destination = workspace.hidden + row * width
        switch input {
        case .tokens(let tokens):
            guard let embedding = weights.embedding else {
                throw InferenceError.missingTensor(name: "token_embd.weight")
            }
            for index in 0..<count {
                try embedding.decodeRow(
                    Int(tokens[start + index]), into: destination + index * width)
            }
            scaleEmbeddings(destination, count: count)
        case .hidden(let values, _):
            values.withUnsafeBufferPointer { source in
                destination.update(from: source.baseAddress! + start * width, count: count * width)
            }
        }
    }

    /// One transformer block over the workspace's hidden states: llama's block (pre-norm,
    /// grouped-query attention with RoPE, gated feed-forward), with the steps a family adds
    /// (`BlockSteps.swift`) where its block differs; each is a no-op for the others.
    /// `spans` say which session and positions the rows belong to: one span for a session's
    /// prefill or decode, one per session for a batched decode.
    func runLayer(_ layerIndex: Int, batch: Int, spans: [RowSpan], path: MatmulPath) throws {
        let hp = hyperparameters
        let layer = weights.layers[layerIndex]
        let ws = workspace
        let width = hp.embeddingLength
        let queryWidth = hp.queryWidth
        let kvWidth = hp.kvWidth
        let modelLayer = layers.lowerBound + layerIndex

        // Attention.
        RMSNorm.apply(
            ws.hidden, weight: layer.attentionNorm, width: width, rows: batch,
            epsilon: hp.rmsEpsilon,
            output: ws.normalized)
        observeInput(
            .attentionInput, layer: modelLayer, rows: ws.normalized, count: batch, width: width)
        try projectQueryKeyValue(layer, batch: batch, path: path)  // + biases (Qwen2)
        normalizeHeads(ws.queries, gains: layer.queryNorm, heads: hp.headCount, rows: batch)
        normalizeHeads(ws.keys, gains: layer.keyNorm, heads: hp.kvHeadCount, rows: batch)
        let window = attentionWindow(layer: modelLayer)
        for span in spans {
            let rotary = rotaryEmbedding(
                layer: modelLayer, contextLength: span.session.contextLength)
            for row in span.rows {
                let position = span.start + row - span.rows.lowerBound
                rotary.apply(ws.queries + row * queryWidth, heads: hp.headCount, position: position)
                rotary.apply(ws.keys + row * kvWidth, heads: hp.kvHeadCount, position: position)
                span.session.store(
                    layer: layerIndex, position: position, keys: ws.keys + row * kvWidth,
                    values: ws.values + row * kvWidth)
            }
            attention.run(
                queries: ws.queries + span.rows.lowerBound * queryWidth, batch: span.rows.count,
                startPosition: span.start, window: window, layer: layerIndex,
                session: span.session,
                output: ws.attention + span.rows.lowerBound * queryWidth, scores: ws.scores,
                scoreStride: ws.scoreStride, pool: pool)
        }
        observeInput(
            .attentionOutput, layer: modelLayer, rows: ws.attention, count: batch,
            width: queryWidth)
        try multiplier.multiply(
            [MatmulTarget(layer.attentionOutput, output: ws.projected)], input: ws.attention,
            tokens: batch, path: path)
        postNormalize(ws.projected, gains: layer.attentionPostNorm, batch: batch)  // Gemma 3
        VectorAdd.apply(ws.hidden, adding: ws.projected, count: batch * width)

        // Feed-forward.
        RMSNorm.apply(
            ws.hidden, weight: layer.feedForwardNorm, width: width, rows: batch,
            epsilon: hp.rmsEpsilon,
            output: ws.normalized)
        observeInput(
            .feedForwardInput, layer: modelLayer, rows: ws.normalized, count: batch, width: width)
        try projectGateUp(layer, batch: batch, path: path)
        gatedActivation(batch: batch)
        observeInput(
            .feedForwardDown, layer: modelLayer, rows: ws.gate, count: batch,
            width: hp.feedForwardLength)
        try multiplier.multiply(
            [MatmulTarget(layer.down, output: ws.projected)], input: ws.gate, tokens: batch,
            path: path)
        postNormalize(ws.projected, gains: layer.feedForwardPostNorm, batch: batch)  // Gemma 3
        VectorAdd.apply(ws.hidden, adding: ws.projected, count: batch * width)
    }

    /// Final norm and output projection of the given batch rows into `destination`.
    func projectLogits(
        rows: Range<Int>, into destination: UnsafeMutablePointer<Float>,
        path: MatmulPath
    ) throws {
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
            tokens: rows.count, path: path)
        softcapLogits(destination, count: rows.count * hyperparameters.vocabularySize)
    }
}

/// Workspace rows that belong to one session, at consecutive positions from `start`.
struct RowSpan {
    let session: StageSession
    let start: Int
    let rows: Range<Int>
}
