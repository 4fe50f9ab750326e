import Cluster
import Metrics
import ServiceKit

/// Prometheus series of the forward path (`/metrics`). Made per use: the registry keeps
/// one series per label set, and metrics made before bootstrap would go nowhere.
enum WorkerMetrics {
    static func step(role: String, tokens: Int, computeSeconds: Double) {
        Counter(label: "tessera_worker_forward_steps_total", dimensions: [("stage", role)])
            .increment()
        Counter(label: "tessera_worker_forward_tokens_total", dimensions: [("stage", role)])
            .increment(by: tokens)
        Metrics.Timer(
            label: "tessera_worker_forward_compute_seconds", dimensions: [("stage", role)]
        )
        .recordNanoseconds(Int64(computeSeconds * 1e9))
    }

    /// Sessions and rows (decode tokens plus prompt chunks) per pass of a stage's batch loop
    /// (1 and 1 when a stage has one stream decoding).
    static func pass(sessions: Int, rows: Int) {
        Recorder(label: "tessera_worker_pass_sessions").record(sessions)
        Recorder(label: "tessera_worker_pass_rows").record(rows)
    }

    /// Time a middle stage waited for the next stage beyond that stage's own work.
    static func hop(overheadSeconds: Double, bytes: Int) {
        Metrics.Timer(label: "tessera_worker_hop_overhead_seconds").recordNanoseconds(
            Int64(overheadSeconds * 1e9))
        hop(bytes: bytes)
    }

    /// A direct step's hop: its bytes (no reply comes back to time it by).
    static func hop(bytes: Int) {
        Counter(label: "tessera_worker_hop_bytes_total").increment(by: bytes)
    }

    /// Open sessions, their reserved KV cache bytes, and the bytes of loaded shards.
    static let activeSessions = LiveCount("tessera_worker_active_sessions")
    static let kvCacheBytes = LiveCount("tessera_worker_kv_cache_bytes")
    static let shardBytes = LiveCount("tessera_worker_shard_bytes")

    /// The shard files on disk and their bytes (verified ones and downloads under way), as the
    /// latest cache report (every heartbeat) counted them: a restarted worker shows the files
    /// its volume kept before the scheduler asks it for any.
    static func diskCache(_ report: ShardCacheReport) {
        Gauge(label: "tessera_worker_disk_shards").record(report.shards.count)
        Gauge(label: "tessera_worker_disk_bytes").record(Int(clamping: report.diskUsedBytes))
        Gauge(label: "tessera_worker_disk_budget_bytes").record(
            Int(clamping: report.diskBudgetBytes))
    }

    /// Sessions the worker serves at once (`SessionSlots`), and those it refused beyond them.
    static func sessionSlots(_ limit: Int) {
        Gauge(label: "tessera_worker_session_slots").record(limit)
    }
    static let sessionsRefused = Counter(label: "tessera_worker_sessions_refused_total")

    static func sessions(opened: Bool) {
        activeSessions.add(opened ? 1 : -1)
        Counter(
            label: opened
                ? "tessera_worker_sessions_opened_total" : "tessera_worker_sessions_closed_total"
        ).increment()
    }

    static func shardLoad(seconds: Double, downloaded: Bool) {
        Metrics.Timer(
            label: "tessera_worker_shard_load_seconds",
            dimensions: [("downloaded", "\(downloaded)")]
        )
        .recordNanoseconds(Int64(seconds * 1e9))
    }
}
