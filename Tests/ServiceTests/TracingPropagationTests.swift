import GRPCCore
import GRPCInProcessTransport
import InMemoryTracing
import Instrumentation
import ServiceKit
import Synchronization
import TesseraProto
import Testing
import Tracing

/// The trace-context interceptors over a real gRPC call (in-process transport): the client
/// sends the caller's span in the metadata, the server continues it with a server span that
/// is active where the handler runs (unary, and a streaming handler's producer), and RPCs
/// without context start nothing unless the server is the edge. The tracer is in memory
/// (its own propagation keys); the W3C `traceparent` format is test_tracing.py's, against a
/// real OTLP receiver.
@Suite struct TracingPropagationTests {
    @Test func aCallContinuesTheCallersTraceWithAServerSpanActiveInTheHandler() async throws {
        let tracer = InMemoryTracer()
        let seen = SeenContexts()
        try await withHealthServer(tracer: tracer, startsTraces: false, seen: seen) { health, _ in
            let caller = tracer.startSpan("caller")
            try await ServiceContext.withValue(caller.context) {
                _ = try await health.check(.with { $0.service = "" })
            }
            caller.end()
            let server = try #require(
                tracer.finishedSpans.first { $0.operationName == "grpc.health.v1.Health/Check" })
            #expect(server.kind == .server)
            #expect(server.traceID == caller.traceID)
            #expect(server.parentSpanID == caller.spanID)
            #expect(seen.all.map(\.spanID) == [server.spanID])
            #expect(string(server.attributes.get("rpc.method")) == "Check")
        }
    }

    @Test func aServerThatIsNotTheEdgeMakesNoSpanForAnRPCWithoutContext() async throws {
        let tracer = InMemoryTracer()
        let seen = SeenContexts()
        try await withHealthServer(tracer: tracer, startsTraces: false, seen: seen) { health, _ in
            _ = try await health.check(.with { $0.service = "" })
            #expect(tracer.finishedSpans.isEmpty)
            #expect(seen.all.isEmpty)
        }
    }

    @Test func theEdgeStartsATraceButNotForHealthChecks() async throws {
        let tracer = InMemoryTracer()
        let seen = SeenContexts()
        try await withHealthServer(tracer: tracer, startsTraces: true, seen: seen) { health, _ in
            _ = try await health.check(.with { $0.service = "" })
            #expect(tracer.finishedSpans.isEmpty, "a probe every few seconds must not be traced")
        }
    }

    @Test func aStreamsSpanIsActiveInItsProducerAndEndsWithTheStream() async throws {
        let tracer = InMemoryTracer()
        let seen = SeenContexts()
        try await withHealthServer(tracer: tracer, startsTraces: false, seen: seen) {
            health, store in
            let caller = tracer.startSpan("caller")
            try await ServiceContext.withValue(caller.context) {
                try await health.watch(.with { $0.service = "" }) { response in
                    for try await _ in response.messages {
                        // Open: the span is active, not finished yet.
                        #expect(tracer.finishedSpans.isEmpty)
                        store.finishWatchers()  // the server ends the stream
                    }
                }
            }
            let server = try #require(
                tracer.finishedSpans.first { $0.operationName == "grpc.health.v1.Health/Watch" })
            #expect(server.parentSpanID == caller.spanID)
            #expect(seen.all.map(\.spanID) == [server.spanID])
        }
    }

    @Test func anRPCThatFailsEndsItsSpanAsAnError() async throws {
        let tracer = InMemoryTracer()
        let seen = SeenContexts()
        try await withHealthServer(tracer: tracer, startsTraces: true, seen: seen) { health, _ in
            let caller = tracer.startSpan("caller")
            await #expect(throws: RPCError.self) {
                try await ServiceContext.withValue(caller.context) {
                    _ = try await health.check(.with { $0.service = "no.such.Service" })
                }
            }
            let server = try #require(tracer.finishedSpans.first)
            #expect(server.status?.code == .error)
            #expect(
                string(server.attributes.get("rpc.grpc.status_code")) == "\(RPCError.Code.notFound)"
            )
        }
    }

    private func string(_ attribute: SpanAttribute?) -> String? {
        guard case .string(let value)? = attribute else { return nil }
        return value
    }

    /// A Health server with the trace interceptor (and a recorder after it) and a client with
    /// the client interceptor, over an in-process transport.
    private func withHealthServer(
        tracer: InMemoryTracer, startsTraces: Bool, seen: SeenContexts,
        _ body: (Grpc_Health_V1_Health.Client<InProcessTransport.Client>, HealthStatusStore)
            async throws -> Void
    ) async throws {
        let transport = InProcessTransport()
        let store = HealthStatusStore()
        store.set(.serving)
        let server = GRPCServer(
            transport: transport.server, services: [HealthService(store: store)],
            interceptors: [
                TraceContextServerInterceptor(startsTraces: startsTraces, tracer: tracer),
                ContextRecorder(seen: seen),
            ])
        let client = GRPCClient(
            transport: transport.client,
            interceptors: [TraceContextClientInterceptor(instrument: tracer)])
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await server.serve() }
            group.addTask { try await client.runConnections() }
            defer {
                client.beginGracefulShutdown()
                server.beginGracefulShutdown()
            }
            try await body(Grpc_Health_V1_Health.Client(wrapping: client), store)
        }
    }
}

/// The in-memory span contexts that were active where handlers produced their responses.
final class SeenContexts: Sendable {
    private let contexts = Mutex<[InMemorySpanContext]>([])

    func record(_ context: InMemorySpanContext?) {
        guard let context else { return }
        contexts.withLock { $0.append(context) }
    }

    var all: [InMemorySpanContext] { contexts.withLock { $0 } }
}

/// Runs inside the trace interceptor: records the context active in the response producer,
/// where a streaming handler runs.
struct ContextRecorder: ServerInterceptor {
    let seen: SeenContexts

    func intercept<Input: Sendable, Output: Sendable>(
        request: StreamingServerRequest<Input>,
        context: ServerContext,
        next:
            @Sendable (StreamingServerRequest<Input>, ServerContext) async throws ->
            StreamingServerResponse<Output>
    ) async throws -> StreamingServerResponse<Output> {
        var response = try await next(request, context)
        guard case .success(var contents) = response.accepted else { return response }
        let producer = contents.producer
        let seen = self.seen
        contents.producer = { writer in
            seen.record(ServiceContext.current?.inMemorySpanContext)
            return try await producer(writer)
        }
        response.accepted = .success(contents)
        return response
    }
}
