import Foundation
import ServiceKit
import Synchronization
import Testing

@testable import Scheduler

/// A client's failure report makes the scheduler probe the worker. A stopped worker (SIGSTOP)
/// must not hold the probe up until it resumes, and a probe that began before the worker
/// registered again must not remove the new registration.
@Suite struct FailureReportTests {
    @Test func aProbeOfAStoppedPeerEndsWithinItsTimeout() async throws {
        let peer = try StoppedPeer()
        // Before the fix the probe returned only once the peer went away. The peer stays
        // for a minute: the probe must end while it is still there. (0.5 s alone; no tighter
        // bound, since the parallel suite's synchronous forward passes can hold every
        // cooperative thread for seconds.)
        let gone = Task {
            try? await Task.sleep(for: .seconds(60))
            peer.close()
        }
        defer { gone.cancel() }
        let started = ContinuousClock.now
        let serving = await HealthProbe.isServing(peer.address, timeout: .milliseconds(500))
        let took = ContinuousClock.now - started
        #expect(serving == false)
        #expect(!peer.isClosed, "the probe ended only when the peer went away, after \(took)")
    }

    @Test func aFailedProbeThatBeganBeforeARegistrationKeepsTheWorker() async throws {
        let peer = try StoppedPeer()
        let gone = Task {
            try? await Task.sleep(for: .seconds(60))
            peer.close()
        }
        defer { gone.cancel() }
        let registry = WorkerRegistry(expiry: .seconds(6))
        let capabilities = WorkerCapabilities(memoryBytes: 1 << 30, cpuCount: 1)
        _ = try registry.register(
            address: peer.address, capabilities: capabilities, requestedID: "w1", readyShards: [])
        let routing = Routing(
            registry: registry, pipelines: LivePipelines(), model: OneShot(),
            logger: quietLogger, probeTimeout: .milliseconds(1500))

        // The gateway reports w1 while it is stopped; the probe starts.
        let started = ContinuousClock.now
        let report = Task { try await routing.reportFailure(.with { $0.workerID = "w1" }) }
        try await Task.sleep(for: .milliseconds(300))
        // Meanwhile w1 expires (it sent no heartbeat for the expiry period), resumes, and
        // registers again: the probe's failure is about the registration before.
        #expect(registry.expire(now: .now + .seconds(7)) == ["w1"])
        _ = try registry.register(
            address: peer.address, capabilities: capabilities, requestedID: "w1", readyShards: [])
        try await report.value
        let took = ContinuousClock.now - started
        #expect(registry.worker("w1") != nil, "the re-registered worker was removed")
        // 1.5 s alone (see above for why no tighter bound).
        #expect(!peer.isClosed, "the report ended only when the peer went away, after \(took)")

        // A report whose probe began under the current registration still removes it.
        try await routing.reportFailure(.with { $0.workerID = "w1" })
        #expect(registry.worker("w1") == nil)
    }

    @Test func removingAWorkerChecksItsRegistration() throws {
        let registry = WorkerRegistry(expiry: .seconds(6))
        let address = ListenAddress(host: "127.0.0.1", port: 9001)
        let capabilities = WorkerCapabilities(memoryBytes: 1 << 30, cpuCount: 1)
        _ = try registry.register(
            address: address, capabilities: capabilities, requestedID: "w1", readyShards: [])
        let first = try #require(registry.worker("w1")).registration
        _ = try registry.register(
            address: address, capabilities: capabilities, requestedID: "w1", readyShards: [])
        let second = try #require(registry.worker("w1")).registration
        #expect(second > first)
        #expect(registry.remove("w1", registration: first) == false)
        #expect(registry.worker("w1") != nil)
        #expect(registry.remove("w1", registration: second))
        #expect(registry.worker("w1") == nil)
    }
}

/// A listening socket that never accepts: what a stopped (SIGSTOP) process looks like from
/// outside. The kernel completes TCP handshakes for it, and nothing answers.
final class StoppedPeer: Sendable {
    let address: ListenAddress
    /// The listening socket, until closed.
    private let descriptor: Mutex<Int32?>

    init() throws {
        let (descriptor, port) = try loopbackSocket()
        guard listen(descriptor, 64) == 0 else {
            Glibc.close(descriptor)
            throw POSIXError(.EADDRINUSE)
        }
        self.descriptor = Mutex(descriptor)
        self.address = ListenAddress(host: "127.0.0.1", port: port)
    }

    var isClosed: Bool { descriptor.withLock { $0 == nil } }

    /// Closes the socket (once): connections waiting to be accepted are reset.
    func close() {
        if let descriptor = descriptor.withLock({ $0.take() }) { Glibc.close(descriptor) }
    }

    deinit { close() }
}
