/// Picks the pipeline a new request should go to.
///
/// Predicted completion for a request of `expectedTokens` on pipeline p, whose queued and
/// running requests still have `outstandingTokens` to generate:
///
///   max(expectedTokens × T_p, (outstandingTokens + expectedTokens) × B_p)
///
/// T_p is the single-stream time per token (the request can go no faster than its own
/// chain of stages) and B_p the slowest stage's time per token (with many sessions in
/// flight every stage is busy, so all outstanding tokens, this request's included, drain at
/// one per bottleneck interval). The lowest prediction wins; ties go to the earlier pipeline
/// (the primary first). Conservative: batching several sessions in one step would drain
/// faster, which the scheduler can reflect by counting batched tokens once.
public enum Router {
    public static func predictedCompletionSeconds(
        pipeline: Pipeline, outstandingTokens: Int, expectedTokens: Int
    ) -> Double {
        let own = Double(max(0, expectedTokens))
        let queued = Double(max(0, outstandingTokens))
        return max(own * pipeline.secondsPerToken, (queued + own) * pipeline.bottleneckSeconds)
    }

    /// Index of the pipeline with the earliest predicted completion, or nil if there are no
    /// pipelines. `outstandingTokens[i]` belongs to `plan.pipelines[i]`; missing entries
    /// count as idle.
    public static func choosePipeline(plan: Plan, outstandingTokens: [Int], expectedTokens: Int)
        -> Int?
    {
        choosePipeline(
            pipelines: plan.pipelines, outstandingTokens: outstandingTokens,
            expectedTokens: expectedTokens)
    }

    public static func choosePipeline(
        pipelines: [Pipeline], outstandingTokens: [Int], expectedTokens: Int
    ) -> Int? {
        var best: (index: Int, seconds: Double)?
        for (index, pipeline) in pipelines.enumerated() {
            let outstanding = index < outstandingTokens.count ? outstandingTokens[index] : 0
            let seconds = predictedCompletionSeconds(
                pipeline: pipeline, outstandingTokens: outstanding, expectedTokens: expectedTokens)
            if best == nil || seconds < best!.seconds { best = (index, seconds) }
        }
        return best?.index
    }
}
