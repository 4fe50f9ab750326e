import ArgumentParser
import Cluster
import Foundation
import GRPCCore
import GRPCProtobuf
import Logging
import ServiceKit
import TesseraProto

/// `tessera bench hop`: where a pipeline hop's time goes, piece by piece, without a model.
/// A hop is one decode step sent down a `Forward` stream and its reply coming back; this
/// measures its parts on loopback with the services' own server and client stack: the
/// protobuf encoding of a step and a reply, then round trips to an echo server over
/// plaintext and mutual TLS, with the caller's messages going through the call's own tasks
/// (async streams, a hop's shape) or written and read from the caller's task
/// (`DirectStreamingCall`, the floor). A cluster's per-hop figure (`scripts/bench/cluster-bench.py`)
/// less these is the hop's own work: the worker's step bookkeeping and its commitments.
struct HopBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hop",
        abstract: "Time a pipeline hop's parts: protobuf, gRPC round trips, task handoffs.")

    @Option(help: "Round trips measured per row (after 10% as many to warm up).")
    var messages = 3000
    @Option(help: "Activation width, in f32 values (SmolLM2-135M's embedding length: 576).")
    var width = 576
    @Option(help: "Commitments in each reply (one per stage from the hop to the last).")
    var commitments = 1

    func validate() throws {
        guard messages > 0, width > 0, commitments >= 0 else {
            throw ValidationError("--messages and --width must be positive, --commitments ≥ 0")
        }
    }

    func run() async throws {
        let step = HopMessages.step(width: width)
        let reply = HopMessages.reply(commitments: commitments)
        let stepBytes = (try step.serializedBytes() as [UInt8]).count
        let replyBytes = (try reply.serializedBytes() as [UInt8]).count
        print(
            "a hop: a \(width)-wide f32 step (\(stepBytes) bytes) and a reply with \(commitments)"
                + " commitment(s) (\(replyBytes) bytes); \(messages) round trips a row")
        let coding = try HopMessages.codingSeconds(step: step, reply: reply, rounds: messages)
        print(String(format: "protobuf encode + decode, both messages: %.1f µs", coding * 1e6))
        let commitment = HopMessages.commitmentCost(width: width, rounds: messages)
        print(
            String(
                format: "a stage's commitment to the step: %.1f µs, the Ed25519 signature %.1f µs",
                commitment.whole * 1e6, commitment.signature * 1e6))
        print("")
        var table = [["transport", "caller", "p50", "p90", "p99", "mean"]]
        for (label, security) in try Self.securities() {
            let server = try await HopEchoServer.start(security: security, reply: reply)
            do {
                let client = try ServiceClient.make(server.addresses.grpc, security: security)
                try await withThrowingDiscardingTaskGroup { group in
                    group.addTask { try await client.runConnections() }
                    defer { client.beginGracefulShutdown() }
                    let worker = Tessera_V1_InferenceWorker.Client(wrapping: client)
                    for shape in HopCaller.allCases {
                        let times = try await shape.roundTrips(
                            worker, step: step, count: messages + messages / 10
                        ).dropFirst(messages / 10)
                        table.append([label, shape.rawValue] + Self.summary(Array(times)))
                    }
                }
            } catch {
                await server.shutdown()
                throw error
            }
            await server.shutdown()
        }
        for line in TextTable.lines(table) { print(line) }
    }

    /// Plaintext, and mutual TLS with a throwaway authority (worker certificates both ends,
    /// as between two stages).
    static func securities() throws -> [(String, ClusterSecurity)] {
        let authority = try CertificateAuthority.create(commonName: "hop bench")
        let issued = try authority.issue(role: .worker, name: "hop-bench")
        let material = TLSMaterial(
            authorityPEM: try authority.certificatePEM, certificatePEM: issued.certificatePEM,
            keyPEM: issued.keyPEM)
        return [("plaintext", .insecure), ("mutual TLS", .mutualTLS(material))]
    }

    static func summary(_ seconds: [Double]) -> [String] {
        let sorted = seconds.sorted()
        func quantile(_ q: Double) -> Double {
            sorted[min(sorted.count - 1, Int(q * Double(sorted.count)))]
        }
        let mean = sorted.reduce(0, +) / Double(max(1, sorted.count))
        return [quantile(0.5), quantile(0.9), quantile(0.99), mean].map {
            String(format: "%.3f ms", $0 * 1000)
        }
    }
}

/// Messages shaped like a decode step's: a step carrying one row of f32 hidden states, and
/// the reply with a token, a timing and commitments of the real sizes.
enum HopMessages {
    static func step(width: Int) -> Tessera_V1_ForwardRequest {
        .with {
            $0.step = .with {
                $0.step = 1
                $0.position = 100
                $0.tokenIds = [42]
                $0.hidden = .with {
                    $0.dtype = .f32
                    $0.shape = [1, UInt32(width)]
                    $0.data = Data(count: width * 4)
                }
            }
        }
    }

    static func reply(commitments: Int) -> Tessera_V1_ForwardResponse {
        .with {
            $0.step = 1
            $0.tokenID = 42
            $0.timings = [
                .with {
                    $0.workerID = "worker-1"
                    $0.computeSeconds = 0.004
                    $0.bytesSent = 2400
                }
            ]
            $0.commitments = (0..<commitments).map { _ in
                .with {
                    $0.workerID = "worker-1"
                    $0.sessionID = UUID().uuidString
                    $0.step = 1
                    $0.layers = .with { $0.last = 29 }
                    $0.shardSha256 = String(repeating: "a", count: 64)
                    $0.inputDigest = Data(count: 32)
                    $0.outputDigest = Data(count: 32)
                    $0.signature = Data(count: 64)
                    $0.fingerprint = Data(count: 128)
                    $0.unixMs = 1_800_000_000_000
                    $0.position = 100
                    $0.count = 1
                    $0.arithmetic = 2
                }
            }
        }
    }

    /// Mean seconds to encode and decode one step and one reply.
    static func codingSeconds(
        step: Tessera_V1_ForwardRequest, reply: Tessera_V1_ForwardResponse, rounds: Int
    ) throws -> Double {
        let clock = ContinuousClock()
        let start = clock.now
        for _ in 0..<rounds {
            let stepBytes: [UInt8] = try step.serializedBytes()
            let replyBytes: [UInt8] = try reply.serializedBytes()
            let decoded = try Tessera_V1_ForwardRequest(serializedBytes: stepBytes)
            let decodedReply = try Tessera_V1_ForwardResponse(serializedBytes: replyBytes)
            guard decoded.step.step == 1, decodedReply.step == 1 else {
                throw ValidationError("protobuf round trip changed the messages")
            }
        }
        return (clock.now - start).inSeconds / Double(rounds)
    }
}

/// How the caller's task reaches the call.
enum HopCaller: String, CaseIterable {
    /// Requests through an async stream that the request producer drains, replies through
    /// one that `onResponse` fills: a hop's shape (DownstreamHop, the gateway's
    /// PipelineStream), two task switches per round trip at the caller.
    case streams = "async streams"
    /// Written and read from the caller's task (`DirectStreamingCall`): the floor.
    case direct = "direct"

    /// Seconds per round trip, one step in flight at a time.
    func roundTrips(
        _ worker: Tessera_V1_InferenceWorker.Client<TesseraClientTransport>,
        step: Tessera_V1_ForwardRequest, count: Int
    ) async throws -> [Double] {
        let clock = ContinuousClock()
        var times: [Double] = []
        times.reserveCapacity(count)
        switch self {
        case .streams:
            let (requests, requestSink) = AsyncStream<Tessera_V1_ForwardRequest>.makeStream()
            let (replies, replySink) = AsyncThrowingStream<Tessera_V1_ForwardResponse, any Error>
                .makeStream()
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    try await worker.forward(
                        requestProducer: { writer in
                            for await request in requests { try await writer.write(request) }
                        },
                        onResponse: { response in
                            for try await reply in response.messages { replySink.yield(reply) }
                            replySink.finish()
                        })
                }
                var iterator = replies.makeAsyncIterator()
                for _ in 0..<count {
                    let sent = clock.now
                    requestSink.yield(step)
                    guard try await iterator.next() != nil else { break }
                    times.append((clock.now - sent).inSeconds)
                }
                requestSink.finish()
                try await group.waitForAll()
            }
        case .direct:
            let call = DirectStreamingCall<Tessera_V1_ForwardRequest, Tessera_V1_ForwardResponse>()
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    await call.run { producer, onResponse in
                        try await worker.forward(requestProducer: producer, onResponse: onResponse)
                    }
                }
                for _ in 0..<count {
                    let sent = clock.now
                    try await call.send(step)
                    guard try await call.receive() != nil else { break }
                    times.append((clock.now - sent).inSeconds)
                }
                call.close()
                try await group.waitForAll()
            }
        }
        return times
    }
}

/// A `Forward` server that answers every step with the same reply at once: the worker's
/// server stack (ServiceApplication: interceptors, message limits, TLS) without a model.
struct HopEchoServer: RegistrableRPCService {
    let reply: Tessera_V1_ForwardResponse

    static func start(security: ClusterSecurity, reply: Tessera_V1_ForwardResponse) async throws
        -> RunningService
    {
        var logger = Logger(label: "hop-bench")
        logger.logLevel = .error
        var application = ServiceApplication(
            name: "inference-worker", grpcAddress: ListenAddress(host: "127.0.0.1", port: 0),
            httpAddress: nil, logger: logger, rpcServices: [HopEchoServer(reply: reply)])
        application.security = security
        return try await application.start()
    }

    func registerMethods<Transport: ServerTransport>(with router: inout RPCRouter<Transport>) {
        let reply = self.reply
        router.registerHandler(
            forMethod: Tessera_V1_InferenceWorker.Method.Forward.descriptor,
            deserializer: ProtobufDeserializer<Tessera_V1_ForwardRequest>(),
            serializer: ProtobufSerializer<Tessera_V1_ForwardResponse>()
        ) { request, _ in
            StreamingServerResponse { writer in
                for try await message in request.messages {
                    guard case .step(let step)? = message.kind else { continue }
                    var answer = reply
                    answer.step = step.step
                    try await writer.write(answer)
                }
                return [:]
            }
        }
    }
}
