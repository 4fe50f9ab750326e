import Metrics
import ServiceKit

/// What the gateway records beyond the per-RPC counters every service has: requests by API
/// and outcome, tokens, time to first token, failovers and the pause each one caused.
enum GatewayMetrics {
    static func request(api: String, outcome: String) {
        Counter(
            label: "tessera_gateway_requests_total",
            dimensions: [("api", api), ("outcome", outcome)]
        ).increment()
    }

    static func tokens(prompt: Int, completion: Int) {
        Counter(label: "tessera_gateway_tokens_total", dimensions: [("kind", "prompt")]).increment(
            by: Int64(prompt))
        Counter(label: "tessera_gateway_tokens_total", dimensions: [("kind", "completion")])
            .increment(by: Int64(completion))
    }

    static func timeToFirstToken(_ duration: Duration) {
        Metrics.Timer(label: "tessera_gateway_time_to_first_token_seconds").recordNanoseconds(
            duration.inNanoseconds)
    }

    /// Generations running now (streaming or not), and requests waiting for a pipeline.
    static let activeGenerations = LiveCount("tessera_gateway_active_generations")
    static let waitingForPipeline = LiveCount("tessera_gateway_requests_waiting_for_pipeline")
    /// Leases this gateway holds (and renews) at the scheduler.
    static let heldLeases = LiveCount("tessera_gateway_leases")

    /// Requests waiting in the admission queue for a session slot (AdmissionQueue).
    static let admissionQueueLength = LiveCount("tessera_gateway_admission_queue_length")

    /// How long a request waited in the admission queue; `outcome`: admitted, or left
    /// (refused at its deadline, or its client went away).
    static func admissionWait(_ duration: Duration, outcome: String) {
        Metrics.Timer(
            label: "tessera_gateway_admission_wait_seconds", dimensions: [("outcome", outcome)]
        ).recordNanoseconds(duration.inNanoseconds)
    }

    /// Requests the admission queue refused: queue_full, predicted_wait (refused on arrival:
    /// the predicted wait outlasted the deadline), queue_timeout, client_deadline,
    /// failover_timeout.
    static func admissionRejected(reason: String) {
        Counter(label: "tessera_gateway_admission_rejected_total", dimensions: [("reason", reason)])
            .increment()
    }

    /// The wait for a session slot predicted for a new request as it joined the queue
    /// (WaitPredictor), whether it was then refused or waited.
    static func admissionPredictedWait(_ duration: Duration) {
        Metrics.Timer(label: "tessera_gateway_admission_predicted_wait_seconds")
            .recordNanoseconds(duration.inNanoseconds)
    }

    /// The time between two tokens of one stream, as its client sees it.
    static func interTokenLatency(_ duration: Duration) {
        Metrics.Timer(label: "tessera_gateway_inter_token_seconds").recordNanoseconds(
            duration.inNanoseconds)
    }

    static func failover(pause: Duration) {
        Counter(label: "tessera_gateway_failovers_total").increment()
        Metrics.Timer(label: "tessera_gateway_failover_pause_seconds").recordNanoseconds(
            pause.inNanoseconds)
    }

    /// A step past its stall limit while every stage still answered health checks: a busy
    /// pipeline, given more time rather than failed over.
    static func slowStep() {
        Counter(label: "tessera_gateway_slow_steps_total").increment()
    }

    // Receipts: signed per finished generation, shipped to the verifier off the serving path.
    static let receiptsIssued = Counter(label: "tessera_gateway_receipts_issued_total")
    static let receiptsShipped = Counter(label: "tessera_gateway_receipts_shipped_total")
    static let receiptsRejected = Counter(label: "tessera_gateway_receipts_rejected_total")
    /// Dropped because the buffer was full (the verifier was down for long).
    static let receiptsDropped = Counter(label: "tessera_gateway_receipts_dropped_total")
    static let receiptsBuffered = Gauge(label: "tessera_gateway_receipts_buffered")
}
