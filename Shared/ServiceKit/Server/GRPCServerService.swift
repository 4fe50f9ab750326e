import GRPCCore
import GRPCNIOTransportHTTP2
import ServiceLifecycle

public typealias TesseraGRPCServer = GRPCServer<HTTP2ServerTransport.Posix>

/// Runs a gRPC server inside a `ServiceGroup`: on graceful shutdown the server stops
/// accepting new RPCs and returns once the in-flight ones have finished. Any transport:
/// HTTP/2 over TCP in production, in-process in tests.
struct GRPCServerService<Transport: ServerTransport>: Service {
    let server: GRPCServer<Transport>
    /// Told at once when serving fails (the service group reports it only after every other
    /// service has stopped, which can take a while).
    var onFailure: @Sendable (any Error) -> Void = { _ in }

    func run() async throws {
        do {
            try await withGracefulShutdownHandler {
                try await server.serve()
            } onGracefulShutdown: {
                server.beginGracefulShutdown()
            }
        } catch {
            onFailure(error)
            throw error
        }
    }
}
