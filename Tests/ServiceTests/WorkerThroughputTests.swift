import Foundation
import Inference
import ModelStore
import ServiceKit
import Synchronization
import TesseraProto
import Testing

/// Decode speed through 1 and 3 local workers next to the engine alone, and what a hop
/// costs (from the workers' own StageTiming). Prints the figures; the checks are loose
/// bounds, since the machine is shared.
@Suite(.serialized) struct WorkerThroughputTests {
    static let decodeTokens = 48

    struct Figures {
        var clientTokensPerSecond: Double  // wall clock at the client, decode steps only
        var hopMicroseconds: [Double]  // mean send_seconds per hop over the decode steps
        var hopBytes: [Double]  // mean bytes_sent per hop over the decode steps
    }

    /// Prefill, then `decodeTokens` greedy decode steps; times the decode steps at the client.
    static func measure(_ pipeline: TestPipeline, prompt: [Int32]) async throws -> Figures {
        let marks = Mutex<[ContinuousClock.Instant]>([])
        let outcome = await ForwardDriver.run(
            pipeline.entry, open: pipeline.open(),
            first: ForwardDriver.step(0, position: 0, tokens: prompt)
        ) { responses in
            if responses.count == 1 || responses.count == decodeTokens + 1 {
                marks.withLock { $0.append(.now) }
            }
            guard responses.count <= decodeTokens, let last = responses.last else { return nil }
            return ForwardDriver.step(
                UInt64(responses.count), position: prompt.count + responses.count - 1,
                tokens: [last.token])
        }
        #expect(outcome.error == nil)
        let decode = Array(outcome.responses.dropFirst())
        let times = marks.withLock { $0 }
        try #require(decode.count == decodeTokens && times.count == 2)
        let hops = pipeline.stages.count - 1
        let count = Double(decode.count)
        return Figures(
            clientTokensPerSecond: count / (times[1] - times[0]).inSeconds,
            hopMicroseconds: (0..<hops).map { hop in
                decode.map { $0.timings[hop].sendSeconds }.reduce(0, +) / count * 1e6
            },
            hopBytes: (0..<hops).map { hop in
                Double(decode.map { $0.timings[hop].bytesSent }.reduce(0, +)) / count
            })
    }

    /// The engine alone, one thread, greedy, the same positions.
    static func engineRate(prompt: [Int32]) throws -> Double {
        let stage = try TransformerStage(
            file: try WorkerFixtures.modelFile(), layers: 0..<30, threads: 1)
        let session = try stage.makeSession(contextLength: 256)
        var token = argmax(try stage.forward(.tokens(prompt), session: session).values)
        let start = ContinuousClock.now
        for _ in 0..<decodeTokens {
            token = argmax(try stage.forward(.tokens([token]), session: session).values)
        }
        return Double(decodeTokens) / (ContinuousClock.now - start).inSeconds
    }

    static func argmax(_ values: [Float]) -> Int32 {
        var best = 0
        for index in values.indices where values[index] > values[best] { best = index }
        return Int32(best)
    }

    @Test func decodeThroughOneAndThreeWorkers() async throws {
        let prompt = try WorkerFixtures.prompt("plain-story")
        let engine = try Self.engineRate(prompt: prompt)

        let whole = try WorkerFixtures.shard(0..<30)
        let solo = try await ShardWorker.start(id: "solo", shards: [whole])
        let one = try await Self.measure(TestPipeline(stages: [(solo, whole)]), prompt: prompt)
        await solo.service.shutdown()

        let pipeline = try await WorkerForwardTests.threeWorkerPipeline()
        let three = try await Self.measure(pipeline, prompt: prompt)
        await WorkerForwardTests.stop(pipeline)

        func format(_ values: [Double]) -> String {
            values.map { String(format: "%.0f", $0) }.joined(separator: ", ")
        }
        print(
            """
            decode of \(Self.decodeTokens) tokens, 1 compute thread per worker, all on 127.0.0.1:
              engine alone: \(String(format: "%.1f", engine)) tok/s
              1 worker:     \(String(format: "%.1f", one.clientTokensPerSecond)) tok/s at the client
              3 workers:    \(String(format: "%.1f", three.clientTokensPerSecond)) tok/s at the client
              per hop (3 workers): overhead \(format(three.hopMicroseconds)) µs, \(format(three.hopBytes)) bytes per token
            """)
        #expect(one.clientTokensPerSecond > 1 && three.clientTokensPerSecond > 1)
        #expect(three.hopBytes.allSatisfy { $0 >= 576 * 4 && $0 < 576 * 4 + 64 })
        // How long a hop takes is a benchmark figure (printed above; scripts/bench/cluster-bench.py
        // measures it on a quiet machine), not a pass/fail bound: under the parallel test run
        // on two cores a hop waited 50+ ms for CPU. Here it only has to be measured at all.
        #expect(
            three.hopMicroseconds.count == 2
                && three.hopMicroseconds.allSatisfy { $0.isFinite && $0 >= 0 })
    }
}
