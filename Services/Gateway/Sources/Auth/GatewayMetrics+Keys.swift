import Metrics

extension GatewayMetrics {
    /// Requests refused by API-key checks: missing, unknown, revoked, rate_limited. Counted
    /// without the key, so the metrics never name who was refused.
    static func keyRefused(reason: String) {
        Counter(label: "tessera_gateway_key_refusals_total", dimensions: [("reason", reason)])
            .increment()
    }
}
