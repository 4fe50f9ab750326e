import APIKeys
import Foundation
import ServiceKit
import Synchronization
import Testing

@testable import Gateway

/// Per-key limits (KeyLimiter) and fair admission across keys (AdmissionQueue).
@Suite(.timeLimit(.minutes(1)))
struct APIKeyAdmissionTests {
    static func key(_ id: String, rpm: Int = 0, tpm: Int = 0, streams: Int = 0) -> APIKeyRecord {
        APIKeyRecord(
            id: id, name: id, prefix: "tsk-test", created: Date(),
            limits: APIKeyLimits(
                requestsPerMinute: rpm, tokensPerMinute: tpm, concurrentStreams: streams))
    }

    @Test func theThirdRequestOfATwoPerMinuteKeyIsRefusedWithWhenToRetry() throws {
        let limiter = KeyLimiter()
        let key = Self.key("k", rpm: 2)
        for _ in 0..<2 {
            try limiter.admit(key).get()
            limiter.finish(keyID: key.id, tokens: 5)
        }
        let refusal = try #require(
            {
                if case .failure(let error) = limiter.admit(key) {
                    return error
                } else {
                    return nil
                }
            }())
        #expect(refusal.kind == .keyRateLimited)
        #expect(refusal.message.contains("requests per minute: limit 2"))
        let retry = try #require(refusal.retryAfter)
        #expect(retry > .seconds(50) && retry <= .seconds(60))
        // Another key is not affected.
        try limiter.admit(Self.key("other", rpm: 2)).get()
    }

    @Test func streamsAreHeldUntilTheirRequestFinishes() throws {
        let limiter = KeyLimiter()
        let key = Self.key("s", streams: 2)
        try limiter.admit(key).get()
        try limiter.admit(key).get()
        guard case .failure(let refusal) = limiter.admit(key) else {
            Issue.record("a third concurrent stream was admitted")
            return
        }
        #expect(refusal.message.contains("concurrent streams: limit 2"))
        limiter.finish(keyID: key.id, tokens: 0)
        try limiter.admit(key).get()
        #expect(limiter.streams(of: key.id) == 2)
    }

    @Test func aKeyOverItsTokensPerMinuteWaitsForThemToAgeOut() throws {
        let limiter = KeyLimiter()
        let key = Self.key("t", tpm: 100)
        try limiter.admit(key).get()
        limiter.finish(keyID: key.id, tokens: 60)
        try limiter.admit(key).get()  // 60 < 100: admitted, though it may take it over
        limiter.finish(keyID: key.id, tokens: 60)
        guard case .failure(let refusal) = limiter.admit(key) else {
            Issue.record("a key over its tokens per minute was admitted")
            return
        }
        #expect(refusal.message.contains("tokens per minute: limit 100, used 120"))
        #expect((refusal.retryAfter ?? .zero) >= .seconds(1))
    }

    @Test func theTicketCountsThePromptOnceAndEveryChoicesCompletion() {
        let limiter = KeyLimiter()
        let key = Self.key("u", streams: 1)
        _ = limiter.admit(key)
        let recorded = Mutex<[APIKeyUsage]>([])
        let ticket = KeyTicket(key: key, limiter: limiter) { usage in
            recorded.withLock { $0.append(usage) }
        }
        ticket.record(promptTokens: 12, completionTokens: 5)
        ticket.record(promptTokens: 12, completionTokens: 7)
        ticket.finish()
        ticket.finish()
        #expect(
            recorded.withLock { $0 } == [
                APIKeyUsage(requests: 1, promptTokens: 12, completionTokens: 12)
            ])
        #expect(limiter.streams(of: key.id) == 0)
    }

    @Test func bearerTokensAreReadAsRFC9110Says() {
        #expect(APIKeyAuthenticator.bearerToken("Bearer tsk-abc") == "tsk-abc")
        #expect(APIKeyAuthenticator.bearerToken("bearer  tsk-abc ") == "tsk-abc")
        #expect(APIKeyAuthenticator.bearerToken("Basic dXNlcjpwYXNz") == nil)
        #expect(APIKeyAuthenticator.bearerToken("Bearer ") == nil)
        #expect(APIKeyAuthenticator.bearerToken(nil) == nil)
    }

    // MARK: Fair admission

    /// Joins every (name, tenant) in order as requests the scheduler just refused, then frees
    /// slots one at a time; returns the order in which they were admitted.
    static func admissionOrder(
        _ requests: [(String, String?)], lateJoiner: (String, String?)? = nil
    )
        async throws -> [String]
    {
        let queue = AdmissionQueue(limits: .init(maxQueued: 64, maxWait: .seconds(30)))
        let deadline = AdmissionQueue.Deadline(
            instant: .now + .seconds(30), reason: .queueWait(.seconds(30)))
        let admitted = AdmissionRecord()
        let places = try requests.map { request in
            (
                request.0,
                try queue.join(
                    priority: .newRequest, deadline: deadline, asked: true, tenant: request.1)
            )
        }
        @Sendable func admit(_ name: String, _ place: AdmissionQueue.Place) async throws {
            var poll = Backoff(initial: .seconds(20), maximum: .seconds(20))
            try await queue.waitForTurn(place, backoff: &poll)
            let count = admitted.names.withLock {
                $0.append(name)
                return $0.count
            }
            // Another key's request arrives while the first admitted one still holds the head.
            if count == 1, let lateJoiner {
                let place = try queue.join(
                    priority: .newRequest, deadline: deadline, asked: true, tenant: lateJoiner.1)
                admitted.late.withLock { $0 = Task { try await admit(lateJoiner.0, place) } }
            }
            queue.leave(place, admitted: true)
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (name, place) in places {
                group.addTask { try await admit(name, place) }
            }
            queue.slotFreed()
            try await group.waitForAll()
        }
        try await admitted.late.withLock { $0 }?.value
        return admitted.names.withLock { $0 }
    }

    @Test func waitingRequestsAreServedInTurnsAcrossKeys() async throws {
        let order = try await Self.admissionOrder([
            ("a1", "A"), ("a2", "A"), ("a3", "A"), ("a4", "A"), ("b1", "B"), ("b2", "B"),
            ("c1", "C"),
        ])
        #expect(order == ["a1", "b1", "c1", "a2", "b2", "a3", "a4"])
    }

    @Test func aKeyArrivingBehindAnotherKeysBacklogIsServedNext() async throws {
        let order = try await Self.admissionOrder(
            [("a1", "A"), ("a2", "A"), ("a3", "A"), ("a4", "A")], lateJoiner: ("b1", "B"))
        #expect(order == ["a1", "b1", "a2", "a3", "a4"])
    }

    @Test func withoutKeysTheQueueIsFirstComeFirstServed() async throws {
        let order = try await Self.admissionOrder([("r1", nil), ("r2", nil), ("r3", nil)])
        #expect(order == ["r1", "r2", "r3"])
    }
}

/// What `admissionOrder` saw: the names in the order they were admitted, and the late
/// joiner's task.
final class AdmissionRecord: Sendable {
    let names = Mutex<[String]>([])
    let late = Mutex<Task<Void, any Error>?>(nil)
}
