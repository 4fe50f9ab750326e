import Foundation
import GRPCCore
import ServiceKit
import Testing

@testable import Gateway

/// The gateway's early refusal by predicted wait: the predictor on cases computed by hand,
/// what the gateway measures for it (SlotTurnover), the admission queue's decision, and the
/// whole path against a real scheduler (its capacity told with its refusal).
@Suite(.serialized, .timeLimit(.minutes(2)))
struct WaitPredictionTests {
    // MARK: WaitPredictor, by hand

    @Test func twoSlotsTenSecondSessionsFreeAtTheirRemainingTimesThenEveryTenSeconds() {
        // Sessions 4 s and 1 s old end in 6 s and 9 s; the requests that take those slots
        // end 10 s later, at 16 s and 19 s.
        let predictor = WaitPredictor(
            slots: 2, sessionLength: .seconds(10), runningAges: [.seconds(4), .seconds(1)])
        #expect(predictor.wait(ahead: 0) == .seconds(6))
        #expect(predictor.wait(ahead: 1) == .seconds(9))
        #expect(predictor.wait(ahead: 2) == .seconds(16))
        #expect(predictor.wait(ahead: 3) == .seconds(19))
        #expect(predictor.wait(ahead: 4) == .seconds(26))
    }

    @Test func slotsHeldByUnknownSessionsCountAsFreeingAtOnce() {
        // Three slots, one held by this gateway (4 s old): the other two (other gateways')
        // free now, then the known one at 6 s, then the first of those taken at 0 at 10 s.
        let predictor = WaitPredictor(
            slots: 3, sessionLength: .seconds(10), runningAges: [.seconds(4)])
        #expect(predictor.wait(ahead: 0) == .zero)
        #expect(predictor.wait(ahead: 1) == .zero)
        #expect(predictor.wait(ahead: 2) == .seconds(6))
        #expect(predictor.wait(ahead: 3) == .seconds(10))
    }

    @Test func sessionsBeyondTheSlotsMustEndFirstAndOldSessionsEndNow() {
        // One slot, two sessions (one granted beyond capacity), ending at 5 s and 8 s: the
        // slot is free once both ended.
        let over = WaitPredictor(
            slots: 1, sessionLength: .seconds(10), runningAges: [.seconds(5), .seconds(2)])
        #expect(over.wait(ahead: 0) == .seconds(8))
        #expect(over.wait(ahead: 1) == .seconds(18))
        // A session past the usual length is taken to end now (the short side).
        let old = WaitPredictor(
            slots: 1, sessionLength: .seconds(3), runningAges: [.seconds(7)])
        #expect(old.wait(ahead: 0) == .zero)
        #expect(old.wait(ahead: 2) == .seconds(6))
    }

    @Test func noSlotsOrNoLengthPredictsNothing() {
        #expect(
            WaitPredictor(slots: 0, sessionLength: .seconds(1), runningAges: []).wait(ahead: 0)
                == nil)
        #expect(
            WaitPredictor(slots: 2, sessionLength: .zero, runningAges: []).wait(ahead: 0) == nil)
    }

    // MARK: SlotTurnover

    @Test func turnoverPredictsOnlyOnceItMeasuredSessionsAndHeardTheCapacity() throws {
        let turnover = SlotTurnover(minimumSessions: 2, smoothing: 0.5)
        let start = ContinuousClock.now
        turnover.started(leaseID: "a", model: "m", now: start)
        turnover.ended(leaseID: "a", now: start + .seconds(4))
        turnover.noteSlots(2, model: "m")
        #expect(turnover.predictor(model: "m", now: start) == nil)  // one session measured
        turnover.started(leaseID: "b", model: "m", now: start)
        turnover.ended(leaseID: "b", now: start + .seconds(8))
        turnover.ended(leaseID: "unknown", now: start + .seconds(9))  // not counted
        turnover.started(leaseID: "c", model: "m", now: start + .seconds(10))
        turnover.started(leaseID: "other", model: "n", now: start + .seconds(10))
        let predictor = try #require(turnover.predictor(model: "m", now: start + .seconds(11)))
        // 4 s, then halfway to 8 s; running: "c", 1 s old (not the other model's session).
        #expect(predictor.sessionLength == .seconds(6))
        #expect(predictor.slots == 2)
        #expect(predictor.runningAges == [.seconds(1)])
        #expect(turnover.predictor(model: "n") == nil)  // no capacity heard for it
    }

    // MARK: The admission queue's decision

    static func deadline(_ wait: Duration) -> AdmissionQueue.Deadline {
        AdmissionQueue.Deadline(instant: .now + wait, reason: .queueWait(wait))
    }

    /// A queue in which `running` sessions of 10 s hold both slots, 4 s and 1 s old.
    static let busy = WaitPredictor(
        slots: 2, sessionLength: .seconds(10), runningAges: [.seconds(4), .seconds(1)])

    @Test func aRequestWhoseWaitOutlastsItsDeadlineIsRefusedOnArrival() throws {
        let queue = AdmissionQueue(limits: .init(maxQueued: 8, maxWait: .seconds(30)))
        let first = try queue.join(
            priority: .newRequest, deadline: Self.deadline(.seconds(30)), asked: true,
            model: "m", predictor: Self.busy)  // 6 s < 30 s: waits
        // Behind one: 9 s. Allowed 8 s: refused, with the prediction as when to retry.
        #expect(throws: GatewayError.self) {
            _ = try queue.join(
                priority: .newRequest, deadline: Self.deadline(.seconds(8)), asked: false,
                model: "m", predictor: Self.busy)
        }
        do {
            _ = try queue.join(
                priority: .newRequest,
                deadline: AdmissionQueue.Deadline(
                    instant: .now + .milliseconds(7900), reason: .client(.seconds(8))),
                asked: false, model: "m", predictor: Self.busy)
            Issue.record("a request that cannot be served in time was queued")
        } catch {
            #expect(error.kind == .predictedWaitTooLong)
            #expect(error.retryAfter == .seconds(9))
            #expect(error.message.contains("predicted at 9.0 s"))
            #expect(error.message.contains("waiting ahead of it: 1;"))
            #expect(error.message.contains("grpc-timeout 8.0 s"))
            #expect(error.rpcErrorCode == .resourceExhausted)
            let pushback = error.rpcErrorMetadata[stringValues: MetadataKeys.retryPushback]
            #expect(pushback.first { _ in true } == "9000")
            let response = OpenAIRoutes.errorResponse(error)
            #expect(response.status == .tooManyRequests)
            #expect(response.headers[.retryAfter] == "9")
            #expect(error.openAIType == "rate_limit_exceeded")
            #expect(error.openAICode == "predicted_wait_too_long")
        }
        #expect(queue.count == 1)
        // Allowed 10 s: it waits.
        let second = try queue.join(
            priority: .newRequest, deadline: Self.deadline(.seconds(10)), asked: false,
            model: "m", predictor: Self.busy)
        #expect(queue.count == 2)
        queue.leave(first, admitted: false)
        queue.leave(second, admitted: false)
    }

    @Test func failoversOtherModelsAndTheSwitchAreNeverRefusedEarly() throws {
        let queue = AdmissionQueue(limits: .init(maxQueued: 8))
        // A failover with a predicted wait far past its deadline still waits its turn.
        let failover = try queue.join(
            priority: .failover, deadline: Self.deadline(.seconds(1)), asked: true, model: "m",
            predictor: Self.busy)
        // Another model's request ahead does not count: 6 s, allowed 7 s.
        let other = try queue.join(
            priority: .newRequest, deadline: Self.deadline(.seconds(7)), asked: false,
            model: "n", predictor: Self.busy)
        #expect(queue.count == 2)
        // The same model's failover ahead does: 9 s, allowed 7 s.
        #expect(throws: GatewayError.self) {
            _ = try queue.join(
                priority: .newRequest, deadline: Self.deadline(.seconds(7)), asked: false,
                model: "m", predictor: Self.busy)
        }
        // Nothing measured yet (no predictor): it waits.
        let unmeasured = try queue.join(
            priority: .newRequest, deadline: Self.deadline(.seconds(1)), asked: false,
            model: "m", predictor: nil)
        for place in [failover, other, unmeasured] { queue.leave(place, admitted: false) }

        let off = AdmissionQueue(limits: .init(maxQueued: 8, refuseEarly: false))
        let queued = try off.join(
            priority: .newRequest, deadline: Self.deadline(.seconds(1)), asked: true, model: "m",
            predictor: Self.busy)
        #expect(off.count == 1)
        off.leave(queued, admitted: false)
    }

    @Test func theRetryHintIsTheWaitInWholeSecondsAtLeastOne() {
        #expect(AdmissionQueue.retryHint(forPredicted: .milliseconds(200)) == .seconds(1))
        #expect(AdmissionQueue.retryHint(forPredicted: .milliseconds(2100)) == .seconds(3))
        #expect(AdmissionQueue.retryHint(forPredicted: .seconds(4)) == .seconds(4))
    }

    // MARK: Against a real scheduler

    @Test func aRealSchedulersCapacityAndMeasuredSessionsRefuseAShortDeadlineAtOnce()
        async throws
    {
        let cluster = try await GatewayAdmissionTests.Cluster.start(
            slots: 1, limits: .init(maxQueued: 4, maxWait: .seconds(20)))
        // Two sessions of about 1.5 s each: what the gateway measures.
        for _ in 0..<2 {
            let lease = try await cluster.acquire()
            try await Task.sleep(for: .milliseconds(1500))
            cluster.router.release(lease)
            #expect(try await eventually { await cluster.scheduler.totalLeases == 0 })
        }
        let held = try await cluster.acquire()
        // A client allowing 1 s cannot get the slot before about 1.5 s: refused at once, not
        // at its deadline (the scheduler's refusal told the gateway its one slot).
        let started = ContinuousClock.now
        let refused = await cluster.refusal(deadline: RequestDeadline(timeout: .seconds(1)))
        #expect(refused?.kind == .predictedWaitTooLong)
        #expect(ContinuousClock.now - started < .milliseconds(800))
        #expect((refused?.retryAfter ?? .zero) >= .seconds(2))  // 1.5 s, in whole seconds
        #expect(cluster.queue.count == 0)
        // One allowing 10 s waits for the slot and gets it.
        let waiting = Task {
            try await cluster.acquire(deadline: RequestDeadline(timeout: .seconds(10)))
        }
        #expect(try await eventually(timeout: .seconds(10)) { cluster.queue.count == 1 })
        try await Task.sleep(for: .milliseconds(300))
        cluster.router.release(held)
        cluster.router.release(try await waiting.value)
        #expect(try await eventually { await cluster.scheduler.totalLeases == 0 })
        await cluster.stop()
    }
}
