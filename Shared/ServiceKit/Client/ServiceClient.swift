import GRPCCore
import GRPCNIOTransportHTTP2
import ServiceLifecycle

public typealias TesseraClientTransport = HTTP2ClientTransport.Posix
public typealias TesseraGRPCClient = GRPCClient<TesseraClientTransport>

public enum ServiceClient {
    /// A plaintext HTTP/2 client for `host:port`; the host may be a DNS name (compose
    /// service names) or an IP. Run it with `runConnections()` or as a `ClientService`.
    public static func make(_ address: ListenAddress) throws -> TesseraGRPCClient {
        let transport = try HTTP2ClientTransport.Posix(
            target: .dns(host: address.host, port: address.port), transportSecurity: .plaintext)
        return GRPCClient(transport: transport)
    }

    /// Runs `body` with a connected client and closes it afterwards (for CLIs and tests).
    public static func with<Result: Sendable>(
        _ address: ListenAddress, _ body: (TesseraGRPCClient) async throws -> Result
    ) async throws -> Result {
        let client = try make(address)
        return try await withThrowingDiscardingTaskGroup { group in
            group.addTask { try await client.runConnections() }
            defer { client.beginGracefulShutdown() }
            return try await body(client)
        }
    }
}

/// Keeps a client's connections running inside a `ServiceGroup`; put it before the
/// services that use the client so it shuts down after them.
public struct ClientService: Service {
    public let client: TesseraGRPCClient

    public init(client: TesseraGRPCClient) {
        self.client = client
    }

    public func run() async throws {
        try await withGracefulShutdownHandler {
            try await client.runConnections()
        } onGracefulShutdown: {
            client.beginGracefulShutdown()
        }
    }
}
