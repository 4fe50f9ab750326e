import Cluster
import Foundation
import GRPCCore
import Metrics

/// Counts every RPC by method and status code and records its duration, so each service's
/// `/metrics` shows request rates, error rates and latency without per-handler code.
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
        do {
            let response = try await next(request, context)
            record(method: method, code: "ok", since: start)
            return response
        } catch let error as RPCError {
            record(method: method, code: "\(error.code)", since: start)
            throw error
        } catch {
            // Domain errors become statuses through RPCErrorConvertible (the server converts them).
            let code = (error as? any RPCErrorConvertible).map { "\($0.rpcErrorCode)" } ?? "unknown"
            record(method: method, code: code, since: start)
            throw error
        }
    }

    private func record(method: String, code: String, since start: ContinuousClock.Instant) {
        Counter(
            label: "tessera_grpc_requests_total", dimensions: [("method", method), ("code", code)]
        ).increment()
        Metrics.Timer(label: "tessera_grpc_request_duration", dimensions: [("method", method)])
            .recordInterval(since: start)
    }
}

extension Metrics.Timer {
    func recordInterval(since start: ContinuousClock.Instant) {
        recordNanoseconds((ContinuousClock.now - start).inNanoseconds)
    }
}
