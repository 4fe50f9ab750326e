import GRPCCore
import TesseraProto

/// The standard `grpc.health.v1.Health` service, backed by a `HealthStatusStore`.
public struct HealthService: Grpc_Health_V1_Health.SimpleServiceProtocol {
    let store: HealthStatusStore

    public init(store: HealthStatusStore) {
        self.store = store
    }

    public func check(
        request: Grpc_Health_V1_HealthCheckRequest, context: ServerContext
    ) async throws -> Grpc_Health_V1_HealthCheckResponse {
        guard let status = store.status(of: request.service) else {
            throw RPCError(code: .notFound, message: "unknown service '\(request.service)'")
        }
        return .with { $0.status = Self.wire(status) }
    }

    public func watch(
        request: Grpc_Health_V1_HealthCheckRequest,
        response: RPCWriter<Grpc_Health_V1_HealthCheckResponse>,
        context: ServerContext
    ) async throws {
        // gRPC tells a handler that its client left through the RPC's cancellation handler,
        // not by cancelling its task: without this, a watcher that disconnected would be
        // kept (and its stream open) until shutdown.
        let (updates, stop) = store.watchUntilStopped(request.service)
        try await withRPCCancellationHandler {
            for await status in updates {
                try await response.write(
                    .with { $0.status = status.map(Self.wire) ?? .serviceUnknown })
            }
        } onCancelRPC: {
            stop()
        }
    }

    static func wire(_ status: HealthStatusStore.Status)
        -> Grpc_Health_V1_HealthCheckResponse.ServingStatus
    {
        switch status {
        case .serving: .serving
        case .notServing: .notServing
        }
    }
}
