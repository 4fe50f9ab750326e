import Foundation
import GRPCCore
import ServiceKit
import Synchronization
import TesseraProto
import Testing

@testable import Verifier

/// Canaries: the verifier asks a gateway for an ordinary greedy generation now and then;
/// when the receipt of one arrives (before or after the answer) it is marked as a canary
/// and replayed, whatever the sampling rate.
@Suite(.serialized, .timeLimit(.minutes(3))) struct VerifierCanaryTests {
    typealias H = VerifierHarness

    /// Answers each Generate with one message carrying receipt `canary-<n>`.
    final class FakeGateway: Tessera_V1_Gateway.SimpleServiceProtocol {
        let requests = Mutex<[Tessera_V1_GenerateRequest]>([])

        func generate(
            request: Tessera_V1_GenerateRequest,
            response: RPCWriter<Tessera_V1_GenerateResponse>, context: ServerContext
        ) async throws {
            let count = requests.withLock {
                $0.append(request)
                return $0.count
            }
            try await response.write(.with { $0.text = "Paris." })
            try await response.write(
                .with {
                    $0.finishReason = .stop
                    $0.receipt = .with { $0.receiptID = "canary-\(count)" }
                })
        }

        func chat(
            request: Tessera_V1_ChatRequest, response: RPCWriter<Tessera_V1_GenerateResponse>,
            context: ServerContext
        ) async throws {
            throw RPCError(code: .unimplemented, message: "not in this fake")
        }

        func listServedModels(
            request: Tessera_V1_ListServedModelsRequest, context: ServerContext
        ) async throws -> Tessera_V1_ListServedModelsResponse {
            .init()
        }
    }

    @Test func canaryReceiptsAreMarkedAndReplayed() async throws {
        let directory = H.stateDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let gateway = FakeGateway()
        let running = try await ServiceApplication(
            name: "fake-gateway", grpcAddress: loopbackAnyPort, httpAddress: nil,
            logger: quietLogger, rpcServices: [gateway]
        ).start()
        defer { Task { await running.shutdown() } }
        var configuration = H.configuration(stateDirectory: directory)
        configuration.newWorkerRate = 0  // only canaries are replayed
        configuration.gatewayAddress = running.addresses.grpc
        configuration.canaryInterval = .milliseconds(50)
        let fixture = VerifierFixture()
        let replayer = ScriptedReplayer(.pass)
        try await H.serving(configuration, replayer: replayer) { api in
            try await H.register(fixture, api)
            // Canary 2's receipt reaches the verifier before the canary's answer does.
            _ = try await H.submit(
                [fixture.record(id: "canary-2"), fixture.record(id: "rcpt-user")], api)
            #expect(try await eventually { gateway.requests.withLock { $0.count } >= 2 })
            #expect(try await eventually { try await H.state("canary-2", api) == .verified })
            // Canary 1's receipt arrives after the answer.
            _ = try await H.submit([fixture.record(id: "canary-1")], api)
            #expect(try await eventually { try await H.state("canary-1", api) == .verified })
            for id in ["canary-1", "canary-2"] {
                #expect(try await api.getReceipt(.with { $0.receiptID = id }).canary)
            }
            let user = try await api.getReceipt(.with { $0.receiptID = "rcpt-user" })
            #expect(user.state == .pending && !user.canary)
            #expect(Set(replayer.replays) == ["canary-1", "canary-2"])
        }
        await running.shutdown()
        // Like any user's request: a prompt, greedy, nothing that marks it.
        let sent = gateway.requests.withLock { requests in requests }
        for request in sent {
            #expect(CanaryPrompts.pool.contains(request.prompt))
            #expect(request.sampling.temperature == 0)
            #expect(request.requestID.isEmpty && request.model.isEmpty)
        }
    }

    @Test func canaryDelaysAreExponentialAroundTheInterval() throws {
        let sender = CanarySender(
            gateway: loopbackAnyPort, interval: .seconds(10),
            store: try VerifierStore(path: ":memory:"), checkerWake: .init(),
            logger: quietLogger)
        let delays = (0..<4000).map { _ in sender.nextDelay().inSeconds }
        let mean = delays.reduce(0, +) / Double(delays.count)
        #expect(abs(mean - 10) < 1, "\(mean)")
        #expect(delays.allSatisfy { $0 >= 0 })
        #expect(delays.filter { $0 < 10 }.count > delays.count / 2)  // median ln 2 · 10
    }
}
