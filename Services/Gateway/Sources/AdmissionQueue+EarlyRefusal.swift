// The admission queue's refusal of a new request on arrival, by its predicted wait
// (WaitPredictor): the decision and what the client is told.
extension AdmissionQueue {
    /// Whether a wait of `wait` from `now` ends after `deadline`: the request cannot be served
    /// in time, so it is refused before it waits.
    static func outlasts(_ wait: Duration, _ deadline: Deadline, now: ContinuousClock.Instant)
        -> Bool
    {
        now + wait > deadline.instant
    }

    /// The prediction as the refusal's hint: whole seconds, at least 1 (HTTP `Retry-After`).
    static func retryHint(forPredicted wait: Duration) -> Duration {
        .seconds(max(1, Int64(wait.inSeconds.rounded(.up))))
    }

    /// The refusal (429 / RESOURCE_EXHAUSTED): the prediction, what it was built from, and
    /// how long the request was allowed to wait.
    static func predictedWaitTooLong(
        _ wait: Duration, ahead: Int, predictor: WaitPredictor, deadline: Deadline
    ) -> GatewayError {
        let allowed =
            switch deadline.reason {
            case .queueWait(let limit): "the gateway's --max-queue-wait-s: \(seconds(limit))"
            case .client(let timeout): "its own deadline, grpc-timeout \(seconds(timeout))"
            case .pipelineWait(let limit): "the gateway's --pipeline-wait-ms: \(seconds(limit))"
            }
        let hint = retryHint(forPredicted: wait)
        return GatewayError(
            .predictedWaitTooLong,
            "every session slot is in use and the wait for one is predicted at \(seconds(wait)) "
                + "(waiting ahead of it: \(ahead); slots: \(predictor.slots); a session holds one "
                + "about \(seconds(predictor.sessionLength))): longer than the request may wait "
                + "(\(allowed)); retry in about \(Int(hint.inSeconds)) s",
            retryAfter: hint)
    }
}
