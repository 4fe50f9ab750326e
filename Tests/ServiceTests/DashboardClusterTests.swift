import Cluster
import Foundation
import Testing

@testable import Gateway

/// How the dashboard reads the cluster: each worker's state from the pipelines it serves,
/// its heartbeats and the verifier; the JSON document keeps every documented key.
struct DashboardClusterTests {
    static let now = Date(timeIntervalSince1970: 1_800_000_000)

    static func worker(_ id: String, heartbeatAge: TimeInterval = 0.5, quarantined: Bool = false)
        -> WorkerOverview
    {
        WorkerOverview(
            id: id, address: "127.0.0.1:7410",
            capabilities: WorkerCapabilities(memoryBytes: 400 << 20, cpuCount: 1, sessionSlots: 4),
            load: WorkerLoad(activeSessions: 1, memoryUsedBytes: 120 << 20),
            lastHeartbeat: now - heartbeatAge, readyShards: 1, schedulerReputation: 1,
            quarantined: quarantined)
    }

    static func pipeline(_ id: String, _ stages: [(String, Range<Int>, Bool)]) -> PipelineOverview {
        PipelineOverview(
            id: id, model: ModelReference(name: "smollm2-135m", sha256: "ab12"), modelLayers: 30,
            stages: stages.map {
                .init(
                    workerID: $0.0, address: "127.0.0.1:1", layers: $0.1, ready: $0.2,
                    predictedMsPerToken: nil)
            }, predictedMsPerToken: 12.5, activeRequests: 0, draining: false, contextLength: 2048)
    }

    @Test func workerStatesFollowPipelinesHeartbeatsAndTheVerifier() {
        var distrusted = Self.worker("w-distrusted")
        distrusted.reputation = WorkerReputationRecord(
            score: 0.2, trust: .quarantined, checksPassed: 1, checksFailed: 4, slashed: true,
            balance: -5)
        var overview = ClusterOverview(
            workers: [
                Self.worker("w-serving"), Self.worker("w-loading"), Self.worker("w-idle"),
                Self.worker("w-silent", heartbeatAge: 10), Self.worker("w-bad", quarantined: true),
                distrusted,
            ],
            pipelines: [
                Self.pipeline("p1", [("w-serving", 0..<30, true)]),
                Self.pipeline("p2", [("w-serving", 0..<15, true), ("w-loading", 15..<30, false)]),
            ], reputations: .available, warnings: [], capturedAt: Self.now)
        overview.deriveWorkerStates(now: Self.now)
        #expect(
            overview.workers.map(\.state) == [
                .serving, .loading, .idle, .stale, .quarantined, .quarantined,
            ])
        #expect(overview.pipelines.map(\.ready) == [true, false])
    }

    @Test func clusterJSONHasEveryDocumentedKey() throws {
        var overview = ClusterOverview(
            workers: [Self.worker("worker-1")],
            pipelines: [Self.pipeline("p1", [("worker-1", 0..<30, true)])],
            reputations: .unreachable("UNAVAILABLE: connection refused"), warnings: ["note"],
            capturedAt: Self.now)
        overview.deriveWorkerStates(now: Self.now)
        let data = OpenAIJSON.encode(DashboardJSON.Cluster(overview))
        let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(
            Set(object.keys) == [
                "captured_at_unix_ms", "workers", "pipelines", "reputations", "warnings",
            ])
        let worker = try #require((object["workers"] as? [[String: Any]])?.first)
        #expect(
            Set(worker.keys) == [
                "id", "address", "state", "memory_bytes", "memory_used_bytes", "cpu_count",
                "compute_gflops", "memory_bandwidth_gbps", "decode_gbps", "active_sessions",
                "session_slots", "cpu_utilization", "last_heartbeat_age_s", "ready_shards",
                "scheduler_reputation", "reputation",
            ])
        #expect(worker["state"] as? String == "serving")
        #expect(worker["session_slots"] as? Int == 4)
        #expect(worker["reputation"] is NSNull)
        #expect((worker["last_heartbeat_age_s"] as? Double).map { abs($0 - 0.5) < 0.01 } == true)
        let pipeline = try #require((object["pipelines"] as? [[String: Any]])?.first)
        #expect(
            Set(pipeline.keys) == [
                "id", "model", "model_sha256", "model_layers", "ready", "draining",
                "active_requests", "predicted_ms_per_token", "context_length", "stages",
            ])
        let stage = try #require((pipeline["stages"] as? [[String: Any]])?.first)
        #expect(
            Set(stage.keys) == [
                "worker_id", "address", "first_layer", "end_layer", "ready",
                "predicted_ms_per_token",
            ])
        #expect(stage["first_layer"] as? Int == 0)
        #expect(stage["end_layer"] as? Int == 30)
        #expect(stage["predicted_ms_per_token"] is NSNull)
        let reputations = try #require(object["reputations"] as? [String: Any])
        #expect(reputations["status"] as? String == "unreachable")
        #expect(reputations["error"] as? String == "UNAVAILABLE: connection refused")
    }
}
