import Inference

/// Runs the reference and every model over the same perplexity windows, window by window:
/// the reference's distributions are computed once per window and compared with each
/// model's at every scored position (no reference logits are stored for the whole text).
public enum QualityEvaluation {
    public static func run(
        reference: any LogitSource, models: [any LogitSource], windows: PerplexityWindows,
        progress: (Double) -> Void
    ) throws -> (reference: NextTokenScores, models: [NextTokenScores]) {
        var referenceScores = NextTokenScores()
        var modelScores = [NextTokenScores](repeating: NextTokenScores(), count: models.count)
        let steps = Double(windows.windows.count * (models.count + 1))
        var done = 0.0
        for window in windows.windows {
            let referenceLogits = try logits(reference, window)
            done += 1
            progress(done / steps)
            var referenceRows: [LogProbabilities] = []
            referenceLogits.withUnsafeBufferPointer { buffer in
                for row in windows.scoredRows {
                    let probabilities = LogProbabilities(logits: rowSlice(buffer, row, reference))
                    referenceScores.add(
                        model: probabilities, reference: probabilities, next: window[row + 1])
                    referenceRows.append(probabilities)
                }
            }
            for (index, model) in models.enumerated() {
                let modelLogits = try logits(model, window)
                modelLogits.withUnsafeBufferPointer { buffer in
                    for (offset, row) in windows.scoredRows.enumerated() {
                        modelScores[index].add(
                            model: LogProbabilities(logits: rowSlice(buffer, row, model)),
                            reference: referenceRows[offset], next: window[row + 1])
                    }
                }
                done += 1
                progress(done / steps)
            }
        }
        return (referenceScores, modelScores)
    }

    private static func logits(_ source: any LogitSource, _ window: [Int32]) throws -> [Float] {
        try source.allLogits(window)
    }

    private static func rowSlice(
        _ buffer: UnsafeBufferPointer<Float>, _ row: Int, _ source: any LogitSource
    ) -> UnsafeBufferPointer<Float> {
        let vocabulary = source.vocabularySize
        return UnsafeBufferPointer(rebasing: buffer[(row * vocabulary)..<((row + 1) * vocabulary)])
    }
}
