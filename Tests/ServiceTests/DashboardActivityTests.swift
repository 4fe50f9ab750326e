import Foundation
import ServiceKit
import Testing

@testable import Gateway

/// The dashboard's in-memory history: per-second throughput buckets and the ring of recent
/// requests stay bounded and report what was recorded, with quiet seconds as zeros.
struct DashboardActivityTests {
    static let start = Date(timeIntervalSince1970: 1_800_000_000)

    @Test func samplesCountEachWholeSecondAndFillQuietOnesWithZeros() {
        let history = ThroughputHistory(seconds: 10)
        history.recordTokens(3, at: Self.start)
        history.recordTokens(2, at: Self.start + 0.5)
        history.recordFirstToken(after: .milliseconds(100), at: Self.start + 0.2)
        history.recordFirstToken(after: .milliseconds(300), at: Self.start + 0.9)
        history.recordTokens(7, at: Self.start + 2.1)
        history.recordFinished(at: Self.start + 2.2)
        // Still inside second +3: it is left out until it is whole.
        history.recordTokens(100, at: Self.start + 3.1)

        let samples = history.samples(count: 4, now: Self.start + 3.5)
        #expect(samples.map(\.second) == [-1, 0, 1, 2].map { 1_800_000_000 + $0 })
        #expect(samples.map(\.tokens) == [0, 5, 0, 7])
        #expect(samples.map(\.finished) == [0, 0, 0, 1])
        #expect(samples[1].firstTokens == 2)
        #expect(samples[1].meanTimeToFirstToken == .milliseconds(200))
        #expect(samples[0].meanTimeToFirstToken == nil)
    }

    @Test func oldSecondsAreOverwrittenNotReported() {
        let history = ThroughputHistory(seconds: 5)
        history.recordTokens(9, at: Self.start)
        // Five seconds later the same bucket holds a new second.
        history.recordTokens(1, at: Self.start + 5)
        let samples = history.samples(count: 4, now: Self.start + 6.5)
        #expect(samples.map(\.tokens) == [0, 0, 0, 1])
        // At most `seconds - 1` whole seconds are kept; asking for more gives that many.
        #expect(history.samples(count: 100, now: Self.start + 6.5).count == 4)
        #expect(history.samples(count: 0, now: Self.start).isEmpty)
    }

    @Test func recentRequestsKeepTheNewestWithinCapacity() {
        let recent = RecentRequests(capacity: 3)
        for index in 1...5 {
            recent.record(Self.request(id: "r\(index)"))
        }
        #expect(recent.all.map(\.requestID) == ["r5", "r4", "r3"])
    }

    @Test func activityJSONHasEveryDocumentedKeyWithNullsForUnknowns() throws {
        let activity = GatewayActivity(
            throughput: ThroughputHistory(seconds: 10), recent: RecentRequests(capacity: 5))
        activity.recent.record(
            Self.request(
                id: "done", outcome: .finished(.length), receipt: "rcpt-1", ttft: .milliseconds(42))
        )
        activity.recent.record(
            Self.request(id: "broken", outcome: .failed(.unavailable, message: "no pipeline")))
        activity.throughput.recordTokens(4, at: Self.start)
        let overview = ActivityOverview(
            activity: activity, queue: AdmissionQueue(), seconds: 3, now: Self.start + 1.2)
        let object = try Self.json(OpenAIJSON.encode(DashboardJSON.Activity(overview)))

        #expect(
            Set(object.keys) == ["captured_at_unix_ms", "queue", "throughput", "recent_requests"])
        let queue = try #require(object["queue"] as? [String: Any])
        #expect(
            Set(queue.keys) == [
                "waiting", "max_queued", "active_generations", "waiting_for_pipeline",
            ])
        #expect(queue["max_queued"] as? Int == 64)
        let samples = try #require(object["throughput"] as? [[String: Any]])
        #expect(samples.map { $0["tokens"] as? Int } == [0, 0, 4])
        #expect(samples[2]["mean_ttft_ms"] is NSNull)
        #expect(
            Set(samples[2].keys) == [
                "unix_s", "tokens", "first_tokens", "mean_ttft_ms", "finished",
            ])
        let requests = try #require(object["recent_requests"] as? [[String: Any]])
        #expect(requests.map { $0["id"] as? String } == ["broken", "done"])
        #expect(
            Set(requests[0].keys) == [
                "id", "model", "prompt_tokens", "completion_tokens", "ttft_ms", "duration_ms",
                "status", "error", "error_message", "failovers", "receipt_id",
                "finished_at_unix_ms",
            ])
        #expect(requests[0]["status"] as? String == "failed")
        #expect(requests[0]["error"] as? String == "unavailable")
        #expect(requests[0]["error_message"] as? String == "no pipeline")
        #expect(requests[1]["error_message"] is NSNull)
        #expect(requests[0]["receipt_id"] is NSNull)
        #expect(requests[0]["ttft_ms"] is NSNull)
        #expect(requests[1]["status"] as? String == "length")
        #expect(requests[1]["receipt_id"] as? String == "rcpt-1")
        #expect(requests[1]["ttft_ms"] as? Double == 42)
    }

    @Test func activityRefusesAnOutOfRangeHistory() throws {
        // Never called: the activity comes from memory alone.
        let nowhere = try ServiceClient.make(ListenAddress(host: "127.0.0.1", port: 1))
        let routes = DashboardRoutes(
            overview: ClusterOverviewSource(
                scheduler: .init(wrapping: nowhere), cacheManager: .init(wrapping: nowhere),
                verifier: nil),
            activity: GatewayActivity(), queue: AdmissionQueue())
        for bad in ["0", "-3", "abc", "120", "1e3"] {
            #expect(routes.activity(secondsParameter: bad).status == .badRequest, "seconds=\(bad)")
        }
        #expect(routes.activity(secondsParameter: "119").status == .ok)
        #expect(routes.activity(secondsParameter: nil).status == .ok)
    }

    static func request(
        id: String, outcome: CompletedRequest.Outcome = .finished(.stop), receipt: String? = nil,
        ttft: Duration? = nil
    ) -> CompletedRequest {
        CompletedRequest(
            requestID: id, model: "smollm2-135m", promptTokens: 10, completionTokens: 3,
            timeToFirstToken: ttft, duration: .milliseconds(500), outcome: outcome, failovers: 0,
            receiptID: receipt, finishedAt: start)
    }

    static func json(_ data: Data) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }
}
