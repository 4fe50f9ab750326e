import Placement
import ServiceKit
import Testing

@testable import Scheduler

/// The scheduler's view of speeds: the worker's measured decode rate, corrected by its real
/// step timings; measured hops replace the configured link for their pair.
@Suite struct ObservedSpeedsTests {
    static func worker(_ id: String, decodeGbps: Double) -> RegisteredWorker {
        RegisteredWorker(
            id: id, address: ListenAddress(host: "127.0.0.1", port: 7410),
            capabilities: WorkerCapabilities(
                memoryBytes: 1 << 30,
                memoryBandwidthGbps: 25,  // ignored when the decode rate is known
                decodeGbps: decodeGbps))
    }

    static func step(bytes: UInt64, seconds: Double) -> StepTiming {
        StepTiming(tokens: 1, seconds: seconds, weightBytes: bytes)
    }

    @Test func stepTimingsCorrectTheMeasuredRate() {
        let workers = [Self.worker("a", decodeGbps: 8), Self.worker("b", decodeGbps: 8)]
        var observed = ObservedSpeeds()
        let before = observed.profiles(workers, expectedSessions: 2)
        #expect(before[0].speed.bytesPerSecond == 8e9)
        #expect(before[0].speed.flopsPerSecond.isInfinite)
        // a: 80 MB steps take 20 ms, twice the 10 ms (+0.5 ms overhead) its rate predicts.
        let slow = (0..<10).map { _ in Self.step(bytes: 80_000_000, seconds: 0.021) }
        observed.absorb(steps: ["a": slow], hops: [:], workers: workers)
        let after = observed.profiles(workers, expectedSessions: 2)
        #expect(abs(after[0].speed.bytesPerSecond - 4e9) < 1e6)
        #expect(after[1].speed.bytesPerSecond == 8e9)
        #expect(after[0].expectedSessions == 2)
    }

    @Test func measuredHopsReplaceTheConfiguredLinkAndGoWithTheirWorker() {
        let workers = [Self.worker("a", decodeGbps: 8), Self.worker("b", decodeGbps: 8)]
        let configured = LinkModel(
            defaultLink: Link(latencySeconds: 0.0005, bytesPerSecond: 500_000_000))
        var observed = ObservedSpeeds()
        let hops = (0..<8).map { _ in LinkTiming(toWorkerID: "b", roundTripSeconds: 0.004, bytes: 0)
        }
        observed.absorb(steps: [:], hops: ["a": hops], workers: workers)
        #expect(observed.links(over: configured).link(from: "a", to: "b").latencySeconds == 0.002)
        #expect(observed.links(over: configured).link(from: "b", to: "a") == configured.defaultLink)
        observed.absorb(steps: [:], hops: [:], workers: [workers[0]])  // b left
        #expect(observed.links(over: configured).link(from: "a", to: "b") == configured.defaultLink)
    }
}
