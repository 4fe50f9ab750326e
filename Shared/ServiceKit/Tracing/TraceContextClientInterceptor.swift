import GRPCCore
import Instrumentation

/// Puts the caller's trace context (the span active in the calling task) into the request's
/// metadata, so the service called continues the same trace: gateway → scheduler, gateway →
/// first worker, worker → next worker. Nothing when no span is active or tracing is off.
/// Every client `ServiceClient` makes has it.
public struct TraceContextClientInterceptor: ClientInterceptor {
    /// nil: the process's (InstrumentationSystem); tests pass an in-memory one.
    let instrument: (any Instrument)?

    public init(instrument: (any Instrument)? = nil) {
        self.instrument = instrument
    }

    public func intercept<Input: Sendable, Output: Sendable>(
        request: StreamingClientRequest<Input>,
        context: ClientContext,
        next: (StreamingClientRequest<Input>, ClientContext) async throws ->
            StreamingClientResponse<Output>
    ) async throws -> StreamingClientResponse<Output> {
        guard let current = ServiceContext.current else {
            return try await next(request, context)
        }
        var request = request
        (instrument ?? InstrumentationSystem.instrument).inject(
            current, into: &request.metadata, using: MetadataInjector())
        return try await next(request, context)
    }
}
