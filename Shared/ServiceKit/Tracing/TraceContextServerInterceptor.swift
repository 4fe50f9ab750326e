import GRPCCore
import Instrumentation
import Tracing

/// One server span per RPC that belongs to a trace, with the caller's span (from the
/// `traceparent` metadata) as its parent, active while the handler runs, so the handler's
/// own spans, its log lines (trace_id, span_id) and the calls it makes join the trace.
///
/// `startsTraces`: an RPC without trace context starts a new trace (the gateway: the edge
/// where requests come in). Elsewhere such RPCs (heartbeats, health checks, polls) get no
/// span: they would bury the requests' traces in noise.
///
/// The handler of a streaming RPC runs after `intercept` returns, in the response's
/// producer; so the span is activated around the producer and ends when it does (a
/// `Forward` stream's span lasts the session).
public struct TraceContextServerInterceptor: ServerInterceptor {
    let startsTraces: Bool
    /// nil: the process's (InstrumentationSystem); tests pass an in-memory one.
    let tracer: (any Tracer)?

    public init(startsTraces: Bool, tracer: (any Tracer)? = nil) {
        self.startsTraces = startsTraces
        self.tracer = tracer
    }

    public func intercept<Input: Sendable, Output: Sendable>(
        request: StreamingServerRequest<Input>,
        context: ServerContext,
        next:
            @Sendable (StreamingServerRequest<Input>, ServerContext) async throws ->
            StreamingServerResponse<Output>
    ) async throws -> StreamingServerResponse<Output> {
        let tracer = self.tracer ?? InstrumentationSystem.tracer
        var parent = ServiceContext.topLevel
        tracer.extract(request.metadata, into: &parent, using: MetadataExtractor())
        let method = context.descriptor
        // Health checks (probes every few seconds) never start a trace.
        let starts = startsTraces && method.service != Self.healthService
        guard starts || !parent.isEmpty else { return try await next(request, context) }
        let span = tracer.startSpan(method.fullyQualifiedMethod, context: parent, ofKind: .server)
        span.attributes["rpc.system"] = "grpc"
        span.attributes["rpc.service"] = method.service.fullyQualifiedService
        span.attributes["rpc.method"] = method.method
        var response: StreamingServerResponse<Output>
        do {
            response = try await ServiceContext.withValue(span.context) {
                try await next(request, context)
            }
        } catch {
            Self.finish(span, with: error)
            throw error
        }
        switch response.accepted {
        case .success(var contents):
            let producer = contents.producer
            let spanContext = span.context
            contents.producer = { writer in
                do {
                    let trailers = try await ServiceContext.withValue(spanContext) {
                        try await producer(writer)
                    }
                    span.end()
                    return trailers
                } catch {
                    Self.finish(span, with: error)
                    throw error
                }
            }
            response.accepted = .success(contents)
        case .failure(let error):
            Self.finish(span, with: error)
        }
        return response
    }

    static let healthService = ServiceDescriptor(fullyQualifiedService: "grpc.health.v1.Health")

    private static func finish(_ span: any Span, with error: any Error) {
        span.recordError(error)
        let code = (error as? RPCError)?.code
        span.attributes["rpc.grpc.status_code"] = code.map { "\($0)" } ?? "unknown"
        span.setStatus(SpanStatus(code: .error, message: (error as? RPCError)?.message))
        span.end()
    }
}
