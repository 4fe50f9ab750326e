import Metrics
import ServiceKit

/// What the verifier records beyond the per-RPC counters every service has: receipts taken
/// in and turned away, stage checks by result, verdicts, replay time and the replay queue.
enum VerifierMetrics {
    /// Records stored (PENDING, or FAILED at once by their structure).
    static func accepted(_ state: ReceiptState) {
        Counter(
            label: "tessera_verifier_receipts_accepted_total",
            dimensions: [("state", state.rawValue)]
        ).increment()
    }

    /// Records not stored (the gateway's part does not hold, or a replayed receipt id).
    static func rejected() {
        Counter(label: "tessera_verifier_receipts_rejected_total").increment()
    }

    static func stageCheck(passed: Bool) {
        Counter(
            label: "tessera_verifier_checks_total",
            dimensions: [("result", passed ? "passed" : "failed")]
        ).increment()
    }

    static func verdict(_ state: ReceiptState) {
        Counter(label: "tessera_verifier_verdicts_total", dimensions: [("state", state.rawValue)])
            .increment()
    }

    static func replay(seconds: Double) {
        Metrics.Timer(label: "tessera_verifier_replay_seconds").recordNanoseconds(
            Int64(seconds * 1e9))
    }

    /// Replays that ended without a verdict (the verifier's own trouble).
    static func replayError() {
        Counter(label: "tessera_verifier_replay_errors_total").increment()
    }

    static func pending(selected: Int, unselected: Int) {
        Gauge(label: "tessera_verifier_pending_receipts", dimensions: [("selected", "true")])
            .record(selected)
        Gauge(label: "tessera_verifier_pending_receipts", dimensions: [("selected", "false")])
            .record(unselected)
    }

    static func canary(outcome: String) {
        Counter(label: "tessera_verifier_canaries_total", dimensions: [("outcome", outcome)])
            .increment()
    }
}
