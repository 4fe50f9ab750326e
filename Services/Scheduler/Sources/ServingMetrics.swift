import Metrics

/// The scheduler's metrics for serving several models (Prometheus, on its HTTP port's
/// `/metrics`), each labelled with the model's name. Hit ratio per request:
/// hits / (hits + misses); per byte: see `tessera_scheduler_shard_bytes_total`.
enum ServingMetrics {
    /// A pipeline granted for a warm model.
    static func hit(model: String) {
        Counter(
            label: "tessera_scheduler_model_requests_total",
            dimensions: [
                ("model", model), ("outcome", "hit"),
            ]
        ).increment()
    }

    /// A request that found the model cold and started its load (the requests that then
    /// wait on the same load are not counted again).
    static func miss(model: String) {
        Counter(
            label: "tessera_scheduler_model_requests_total",
            dimensions: [
                ("model", model), ("outcome", "miss"),
            ]
        ).increment()
    }

    /// From the request that started a load to the model's first ready pipeline.
    static func coldStart(model: String, seconds: Double) {
        Metrics.Timer(label: "tessera_scheduler_cold_start_seconds", dimensions: [("model", model)])
            .recordNanoseconds(Int64(max(0, seconds) * 1e9))
        Counter(label: "tessera_scheduler_model_loads_total", dimensions: [("model", model)])
            .increment()
    }

    static func evicted(model: String, reason: String) {
        Counter(
            label: "tessera_scheduler_model_evictions_total",
            dimensions: [
                ("model", model), ("reason", reason),
            ]
        ).increment()
    }

    /// A model loaded again within the thrash window after it was evicted.
    static func thrash(model: String) {
        Counter(label: "tessera_scheduler_thrash_events_total", dimensions: [("model", model)])
            .increment()
    }

    /// A load refused for lack of room (or that did not finish in time).
    static func refused(model: String) {
        Counter(label: "tessera_scheduler_model_refusals_total", dimensions: [("model", model)])
            .increment()
    }

    /// Bytes a worker loaded for a stage: `downloaded` from the cache-manager, else from
    /// its disk (the byte hit ratio is disk / (disk + network)).
    static func shardLoaded(model: String, bytes: Int, downloaded: Bool) {
        Counter(
            label: "tessera_scheduler_shard_bytes_total",
            dimensions: [
                ("model", model), ("source", downloaded ? "network" : "disk"),
            ]
        ).increment(by: Int64(bytes))
    }

    static func state(model: String, state: ServingState) {
        for name in ["cold", "loading", "warm", "evicting"] {
            Gauge(
                label: "tessera_scheduler_model_state",
                dimensions: [
                    ("model", model), ("state", name),
                ]
            ).record(name == state.name ? 1 : 0)
        }
    }

    /// Bytes the slow loop put on workers' disks ahead of need.
    static func prestaged(model: String, bytes: Int) {
        Counter(label: "tessera_scheduler_prestaged_bytes_total", dimensions: [("model", model)])
            .increment(by: Int64(bytes))
    }
}
