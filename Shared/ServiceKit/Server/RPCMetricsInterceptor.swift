import Cluster
import Foundation
import GRPCCore
import Metrics

/// Counts every RPC by method and status code and records its duration, so each service's
/// `/metrics` shows request rates, error rates and latency without per-handler code. A
/// streaming response is timed to the end of its stream (the handler returns as soon as the
/// stream is set up), and a stream the client cancelled counts as `cancelled`.
struct RPCMetricsInterceptor: ServerInterceptor {
    func intercept<Input: Sendable, Output: Sendable>(
        request: StreamingServerRequest<Input>,
        context: ServerContext,
        next:
            @Sendable (StreamingServerRequest<Input>, ServerContext) async throws ->
            StreamingServerResponse<Output>
    ) async throws -> StreamingServerResponse<Output> {
        let method = context.descriptor.fullyQualifiedMethod
        let start = ContinuousClock.now
        var response: StreamingServerResponse<Output>
        do {
            response = try await next(request, context)
        } catch {
            Self.record(method: method, code: Self.code(of: error), since: start)
            throw error
        }
        switch response.accepted {
        case .failure(let error):
            Self.record(method: method, code: "\(error.code)", since: start)
        case .success(var contents):
            let producer = contents.producer
            contents.producer = { writer in
                do {
                    let trailers = try await producer(writer)
                    // A handler may end quietly when its client goes away (a Watch stream).
                    let cancelled = Task.isCancelled || context.cancellation.isCancelled
                    let code = cancelled ? "\(RPCError.Code.cancelled)" : "ok"
                    Self.record(method: method, code: code, since: start)
                    return trailers
                } catch {
                    Self.record(method: method, code: Self.code(of: error), since: start)
                    throw error
                }
            }
            response.accepted = .success(contents)
        }
        return response
    }

    /// The status a thrown error ends the RPC with, as the metrics label it.
    static func code(of error: any Error) -> String {
        switch error {
        case let error as RPCError: "\(error.code)"
        // Domain errors become statuses through RPCErrorConvertible (the server converts them).
        case let error as any RPCErrorConvertible: "\(error.rpcErrorCode)"
        case is CancellationError: "\(RPCError.Code.cancelled)"
        default: "unknown"
        }
    }

    private static func record(method: String, code: String, since start: ContinuousClock.Instant) {
        Counter(
            label: "tessera_grpc_requests_total", dimensions: [("method", method), ("code", code)]
        )
        .increment()
        Metrics.Timer(label: "tessera_grpc_request_duration", dimensions: [("method", method)])
            .recordInterval(since: start)
    }
}

extension Metrics.Timer {
    func recordInterval(since start: ContinuousClock.Instant) {
        recordNanoseconds((ContinuousClock.now - start).inNanoseconds)
    }
}
