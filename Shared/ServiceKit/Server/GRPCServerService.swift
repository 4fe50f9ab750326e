import GRPCCore
import GRPCNIOTransportHTTP2
import ServiceLifecycle

public typealias TesseraGRPCServer = GRPCServer<HTTP2ServerTransport.Posix>

/// Runs a gRPC server inside a `ServiceGroup`: on graceful shutdown the server stops
/// accepting new RPCs and returns once the in-flight ones have finished.
struct GRPCServerService: Service {
    let server: TesseraGRPCServer

    func run() async throws {
        try await withGracefulShutdownHandler {
            try await server.serve()
        } onGracefulShutdown: {
            server.beginGracefulShutdown()
        }
    }
}
