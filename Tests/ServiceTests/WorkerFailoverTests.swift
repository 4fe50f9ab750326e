import Foundation
import GRPCCore
import ModelStore
import ServiceKit
import Synchronization
import TesseraProto
import Testing

/// A stage that goes away mid-stream fails the stream with UNAVAILABLE and names itself in
/// `tessera-failed-worker`, so the gateway knows whom to report and avoid.
@Suite(.serialized) struct WorkerFailoverTests {
    @Test func stoppingTheMiddleWorkerMidStreamFailsTheStreamNamingIt() async throws {
        let pipeline = try await WorkerForwardTests.threeWorkerPipeline()
        let middle = pipeline.stages[1].worker
        let prompt = try WorkerFixtures.prompt("plain-story")
        let stopped = Mutex<Task<Void, Never>?>(nil)

        let outcome = await ForwardDriver.run(
            pipeline.entry, open: pipeline.open(),
            first: ForwardDriver.step(0, position: 0, tokens: prompt)
        ) {
            responses in
            let count = responses.count
            if count == 4 {
                // Stop the middle worker between two steps, then keep generating.
                let stop = Task { await middle.service.shutdown() }
                stopped.withLock { $0 = stop }
                try? await Task.sleep(for: .milliseconds(300))
            }
            guard count < 24, let last = responses.last else { return nil }
            return ForwardDriver.step(
                UInt64(count), position: prompt.count + count - 1, tokens: [last.token])
        }
        #expect(outcome.responses.count >= 4 && outcome.responses.count < 24)
        #expect(outcome.error?.code == .unavailable)
        #expect(outcome.failedWorker == "w1")
        await stopped.withLock { $0 }?.value

        // With the middle worker gone, a new stream through it fails the same way at once.
        let again = await ForwardDriver.run(
            pipeline.entry, open: pipeline.open(),
            first: ForwardDriver.step(0, position: 0, tokens: prompt))
        #expect(again.error?.code == .unavailable)
        #expect(again.failedWorker == "w1")

        // The surviving stages freed their sessions.
        for stage in [pipeline.stages[0], pipeline.stages[2]] {
            #expect(
                try await eventually { try await stage.worker.status().load.activeSessions == 0 })
        }
        await pipeline.stages[0].worker.service.shutdown()
        await pipeline.stages[2].worker.service.shutdown()
    }

    @Test func stoppingTheLastWorkerIsReportedThroughEveryStage() async throws {
        let pipeline = try await WorkerForwardTests.threeWorkerPipeline()
        let last = pipeline.stages[2].worker
        let prompt = try WorkerFixtures.prompt("plain-story")
        let outcome = await ForwardDriver.run(
            pipeline.entry, open: pipeline.open(),
            first: ForwardDriver.step(0, position: 0, tokens: prompt)
        ) {
            responses in
            if responses.count == 2 { await last.service.shutdown() }
            guard responses.count < 24, let previous = responses.last else { return nil }
            return ForwardDriver.step(
                UInt64(responses.count), position: prompt.count + responses.count - 1,
                tokens: [previous.token])
        }
        #expect(outcome.error?.code == .unavailable)
        #expect(outcome.failedWorker == "w2")  // not w1, which only relayed the failure
        await pipeline.stages[0].worker.service.shutdown()
        await pipeline.stages[1].worker.service.shutdown()
    }

    /// The real thing: the middle stage is an `inference-worker` process killed with SIGKILL
    /// mid-stream (no goodbye on the connection, only a reset).
    @Test func killingTheMiddleWorkerProcessFailsTheStreamNamingIt() async throws {
        let binary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
            .appendingPathComponent("inference-worker").path
        try #require(
            FileManager.default.isExecutableFile(atPath: binary),
            "build the inference-worker product first")
        let head = try WorkerFixtures.shard(0..<10)
        let middle = try WorkerFixtures.shard(10..<20)
        let tail = try WorkerFixtures.shard(20..<30)
        let first = try await ShardWorker.start(id: "w0", shards: [head])
        let last = try await ShardWorker.start(id: "w2", shards: [tail])

        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "tessera-worker-proc-\(UUID().uuidString.prefix(8))"
        ).path
        try FileManager.default.createDirectory(
            atPath: directory, withIntermediateDirectories: true)
        try FileManager.default.linkItem(
            atPath: WorkerFixtures.path(of: middle), toPath: "\(directory)/\(middle.sha256).gguf")
        let port = try freePort()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = [
            "--port", "\(port)", "--http-port", "\(try freePort())", "--threads", "1",
            "--memory-mb", "1024",
            "--worker-id", "w1", "--shard-dir", directory, "--scheduler",
            "127.0.0.1:\(try freePort())", "--log-level", "critical",
            // This test's clients dial in plaintext (TLSTests cover mutual TLS).
            "--insecure",
        ]
        try process.run()
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
        let address = ListenAddress(host: "127.0.0.1", port: port)
        let loaded = try await eventually(timeout: .seconds(30)) {
            (try? await ServiceClient.with(address) { client in
                try await Tessera_V1_InferenceWorker.Client(wrapping: client).loadShard(
                    .with { $0.shard = try WorkerFixtures.reference(middle) })
            }) != nil
        }
        try #require(loaded)

        let hop = Tessera_V1_PipelineHop.with {
            $0.workerID = "w1"
            $0.address = address.description
            $0.layers = WorkerFixtures.range(middle.layers)
            $0.shardSha256 = middle.sha256
        }
        var open = TestPipeline(stages: [(first, head)]).open()
        open.downstream = [hop, last.hop(tail)]
        let prompt = try WorkerFixtures.prompt("plain-story")
        let reference = try WorkerFixtures.referenceTokens(prompt: prompt, count: 6).tokens
        let pid = process.processIdentifier
        let outcome = await ForwardDriver.run(
            first.service.addresses.grpc, open: open,
            first: ForwardDriver.step(0, position: 0, tokens: prompt)
        ) {
            responses in
            if responses.count == 6 { kill(pid, SIGKILL) }
            guard responses.count < 24, let previous = responses.last else { return nil }
            return ForwardDriver.step(
                UInt64(responses.count), position: prompt.count + responses.count - 1,
                tokens: [previous.token])
        }
        // the process computed correctly before it died
        #expect(outcome.tokens.prefix(6) == reference.prefix(6))
        #expect(outcome.responses.count == 6)
        #expect(outcome.error?.code == .unavailable)
        #expect(outcome.failedWorker == "w1")
        process.waitUntilExit()
        #expect(try await eventually { try await last.status().load.activeSessions == 0 })
        await first.service.shutdown()
        await last.service.shutdown()
    }
}
