import GRPCCore
import GRPCInProcessTransport
import ServiceLifecycle

public typealias InProcessGRPCClient = GRPCClient<InProcessTransport.Client>

extension ServiceApplication {
    /// Runs the service with its gRPC server on an in-process transport (no socket, no HTTP
    /// listener) and calls `body` with a client connected to it; then shuts the service down
    /// gracefully and returns what `body` returned. For tests of one service that need no
    /// real network: the same server, background services and readiness as in production.
    /// Its own calls to other services still dial their configured addresses.
    public func withInProcessServer<Result: Sendable>(
        _ body: (InProcessGRPCClient) async throws -> Result
    ) async throws -> Result {
        let transport = InProcessTransport()
        bound.set(BoundAddresses(grpc: grpcAddress, http: nil))
        let group = ServiceGroup(
            configuration: .init(
                services: services(serving: transport.server, onHTTPBound: nil).map {
                    .init(service: $0)
                },
                logger: logger))
        let client = GRPCClient(transport: transport.client)
        return try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            tasks.addTask { try await client.runConnections() }
            do {
                let result = try await body(client)
                client.beginGracefulShutdown()
                await group.triggerGracefulShutdown()
                try await tasks.waitForAll()
                return result
            } catch {
                tasks.cancelAll()
                throw error
            }
        }
    }
}
