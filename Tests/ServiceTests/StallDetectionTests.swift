import Foundation
import GRPCCore
import Testing

@testable import Gateway

/// How the gateway decides that a pipeline stalled: a multiple of the step's expected time
/// (what the session measured, else the scheduler's prediction), between a floor and a cap.
@Suite struct StallDetectionTests {
    let policy = StallPolicy(multiplier: 5, floor: .seconds(2), ceiling: .seconds(60))

    @Test func limitsScaleWithTheExpectedStepTime() {
        // A 16 ms decode step: 5 x 16 ms is under the floor.
        #expect(policy.limit(tokens: 1, secondsPerToken: 0.016) == .seconds(2))
        // A slow pipeline (1 s per token): 5 s.
        #expect(policy.limit(tokens: 1, secondsPerToken: 1) == .seconds(5))
        // A 100-token prefill at 16 ms per token: at most 100 decode steps, times 5.
        #expect(policy.limit(tokens: 100, secondsPerToken: 0.016) == .seconds(8))
        // Never more than the cap; without any estimate, the cap.
        #expect(policy.limit(tokens: 10_000, secondsPerToken: 0.016) == .seconds(60))
        #expect(policy.limit(tokens: 1, secondsPerToken: nil) == .seconds(60))
    }

    @Test func theWatchLearnsFromMeasuredStepsAndFiresOnAStall() async throws {
        let watch = StepWatch(
            policy: StallPolicy(multiplier: 5, floor: .milliseconds(50), ceiling: .seconds(30)),
            predictedSecondsPerToken: nil)
        watch.sent(0, tokens: 20)
        watch.awaiting(0)
        #expect(watch.currentLimit == .seconds(30))  // nothing known yet: the cap
        watch.answered()
        for step in UInt64(1)...3 {  // three decode steps of about 20 ms
            watch.sent(step, tokens: 1)
            watch.awaiting(step)
            try await Task.sleep(for: .milliseconds(20))
            watch.answered()
        }
        watch.sent(4, tokens: 1)
        watch.awaiting(4)
        let limit = try #require(watch.currentLimit)
        // 5 x the measured median (about 100 ms; more on a loaded machine), not the cap.
        #expect(limit >= .milliseconds(100) && limit < .seconds(30))
        let started = ContinuousClock.now
        await #expect(throws: StepWatch.Timeout.self) { try await watch.expire() }
        #expect(ContinuousClock.now - started >= limit)
    }

    /// A step past its limit while every stage answers health checks is a busy pipeline,
    /// not a stall: it gets another limit, up to the ceiling; one that does not answer is
    /// named in the timeout (and in the DEADLINE_EXCEEDED the generation sees).
    @Test func aBusyPipelineGetsMoreTimeAndASilentStageIsNamed() async throws {
        // A ceiling far away: the parallel suite can hold the cooperative threads for
        // seconds, so the test counts probes rather than timing them.
        let policy = StallPolicy(multiplier: 5, floor: .milliseconds(100), ceiling: .seconds(120))
        let watch = StepWatch(policy: policy, predictedSecondsPerToken: 0.001)
        watch.sent(0, tokens: 1)
        watch.awaiting(0)
        let probes = Counter()
        // Every stage answers twice (busy: more time each time), then one stops answering.
        do {
            try await watch.expire {
                probes.increment()
                return probes.value < 3 ? nil : "worker-7"
            }
            Issue.record("the watch returned")
        } catch let timeout as StepWatch.Timeout {
            #expect(probes.value == 3)
            #expect(timeout.silentWorker == "worker-7")
            #expect(timeout.limit >= .milliseconds(300))  // three limits of 100 ms
        }

        watch.sent(1, tokens: 1)
        watch.awaiting(1)
        do {
            try await watch.expire { "worker-2" }
            Issue.record("the watch returned")
        } catch let timeout as StepWatch.Timeout {
            #expect(timeout.silentWorker == "worker-2")
            #expect(timeout.rpcError.code == .deadlineExceeded)
            let named = Array(timeout.rpcError.metadata[stringValues: "tessera-failed-worker"])
            #expect(named == ["worker-2"])
        }
    }
}

private final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    func increment() { lock.withLock { count += 1 } }
    var value: Int { lock.withLock { count } }
}
