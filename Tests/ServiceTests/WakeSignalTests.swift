import ServiceKit
import Testing

@Suite struct WakeSignalTests {
    @Test func aSignalEndsTheWaitEarly() async {
        let wake = WakeSignal()
        let start = ContinuousClock.now
        Task {
            try? await Task.sleep(for: .milliseconds(50))
            wake.signal()
        }
        // Far below the period even when the parallel test run starves the signalling task
        // of CPU for seconds (seen: 11 s on two busy cores).
        await wake.wait(upTo: .seconds(300))
        #expect(ContinuousClock.now - start < .seconds(150))
    }

    @Test func aSignalWithNobodyWaitingIsKeptOnce() async {
        let wake = WakeSignal()
        wake.signal()
        wake.signal()
        let start = ContinuousClock.now
        await wake.wait(upTo: .seconds(300))  // returns at once
        #expect(ContinuousClock.now - start < .seconds(150))
        let second = ContinuousClock.now
        await wake.wait(upTo: .milliseconds(200))  // nothing pending: the period runs out
        #expect(ContinuousClock.now - second >= .milliseconds(150))
    }

    @Test func cancellingTheWaiterEndsTheWait() async {
        // A stopping service must not sit out its period (the gateway's lease renewal waited
        // 60 s at shutdown before this).
        let wake = WakeSignal()
        let start = ContinuousClock.now
        let waiter = Task { await wake.wait(upTo: .seconds(300)) }
        try? await Task.sleep(for: .milliseconds(50))
        waiter.cancel()
        await waiter.value
        #expect(ContinuousClock.now - start < .seconds(150))
    }
}
