import ServiceKit
import Synchronization
import Testing

@Suite struct BoundedCancellationTests {
    @Test func anOperationThatEndsIsAwaited() async {
        let ended = Mutex(false)
        try? await withBoundedCancellation(grace: .seconds(300)) {
            try? await Task.sleep(for: .milliseconds(20))
            ended.withLock { $0 = true }
        }
        #expect(ended.withLock { $0 })
    }

    @Test func anOperationsErrorIsThrown() async {
        struct Failed: Error {}
        await #expect(throws: Failed.self) {
            try await withBoundedCancellation(grace: .seconds(300)) { throw Failed() }
        }
    }

    @Test func aCancelledOperationThatStopsIsAwaitedNotTheGrace() async {
        let stopped = Mutex(false)
        let caller = Task {
            try? await withBoundedCancellation(grace: .seconds(300)) {
                try? await Task.sleep(for: .seconds(300))  // ends early when cancelled
                stopped.withLock { $0 = true }
            }
        }
        try? await Task.sleep(for: .milliseconds(50))
        let start = ContinuousClock.now
        caller.cancel()
        await caller.value
        #expect(stopped.withLock { $0 })
        #expect(ContinuousClock.now - start < .seconds(150))  // far below the grace
    }

    @Test func anOperationDeafToCancellationIsLeftAfterTheGrace() async {
        // Like getaddrinfo under a gRPC connection: nothing interrupts it.
        let release = OneShot<Void>()
        let ended = Mutex(false)
        let caller = Task {
            try? await withBoundedCancellation(grace: .milliseconds(100)) {
                await Self.deaf(until: release)
                ended.withLock { $0 = true }
            }
        }
        try? await Task.sleep(for: .milliseconds(50))
        caller.cancel()
        await caller.value  // returns although the operation still runs
        #expect(!ended.withLock { $0 })
        release.set(())
    }

    @Test func cancelledBeforeItStartsItStillReturns() async {
        // The cancellation handler runs before the wait starts: the grace still ends it.
        let release = OneShot<Void>()
        let caller = Task {
            while !Task.isCancelled { await Task.yield() }
            try? await withBoundedCancellation(grace: .milliseconds(50)) {
                await Self.deaf(until: release)
            }
        }
        caller.cancel()
        await caller.value
        release.set(())
    }

    /// Waits for `release` in a task the caller's cancellation does not reach.
    private static func deaf(until release: OneShot<Void>) async {
        await Task.detached { _ = try? await release.value }.value
    }
}
