import Foundation
import Inference

/// Prefill and decode speed of one whole-model stage, as serving sees it: a prompt in one
/// call, then greedy decode one token per call. The machine's other work lengthens some runs
/// and steps and never shortens one, so callers keep fast samples: the best prefill over
/// their rounds, and a low percentile of all decode step times.
struct ServingSpeed {
    var prefillSeconds: Double
    var decodeStepSeconds: [Double]

    static func measure(
        _ stage: TransformerStage, prompt: [Int32], decodeTokens: Int
    ) throws -> ServingSpeed {
        let session = try stage.makeSession(contextLength: prompt.count + decodeTokens)
        let start = DispatchTime.now().uptimeNanoseconds
        var logits = try stage.forward(.tokens(prompt), session: session).values
        var last = DispatchTime.now().uptimeNanoseconds
        let prefill = Double(last - start) / 1e9
        var steps: [Double] = []
        for _ in 0..<decodeTokens {
            logits = try stage.forward(.tokens([argmax(logits)]), session: session).values
            let now = DispatchTime.now().uptimeNanoseconds
            steps.append(Double(now - last) / 1e9)
            last = now
        }
        return ServingSpeed(prefillSeconds: prefill, decodeStepSeconds: steps)
    }

    /// The value below which `fraction` of the samples lie.
    static func percentile(_ values: [Double], _ fraction: Double) -> Double {
        let sorted = values.sorted()
        return sorted[min(sorted.count - 1, Int(Double(sorted.count) * fraction))]
    }

    private static func argmax(_ values: [Float]) -> Int32 {
        var best = 0
        for index in 0..<values.count where values[index] > values[best] { best = index }
        return Int32(best)
    }
}
