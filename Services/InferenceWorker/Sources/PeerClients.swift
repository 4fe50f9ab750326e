import GRPCCore
import ServiceKit
import ServiceLifecycle
import Synchronization

/// gRPC clients for the other services this worker calls on its own (the next pipeline
/// stage, the cache-manager it downloads from), one per address and kept for reuse: a
/// session's every hop would otherwise pay a new HTTP/2 connection.
final class PeerClients: Sendable {
    private struct State {
        var clients: [String: TesseraGRPCClient] = [:]
        var closed = false
    }

    private let state = Mutex(State())

    /// The client for `address` (`host:port`), connecting on first use.
    func client(for address: String) throws -> TesseraGRPCClient {
        guard let parsed = ListenAddress(parsing: address), parsed.port > 0 else {
            throw RPCError.invalidArgument("'\(address)' is not a host:port address")
        }
        return try state.withLock { state in
            if let existing = state.clients[address] { return existing }
            guard !state.closed else { throw RPCError(code: .unavailable, message: "the worker is shutting down") }
            let client = try ServiceClient.make(parsed)
            state.clients[address] = client
            // Connections live as long as the worker; `shutdown()` ends this task.
            Task { try? await client.runConnections() }
            return client
        }
    }

    /// Lets in-flight calls finish and refuses new ones.
    func shutdown() {
        let clients = state.withLock { state in
            state.closed = true
            return Array(state.clients.values)
        }
        for client in clients { client.beginGracefulShutdown() }
    }
}

/// Closes the peer clients when the worker shuts down.
struct PeerClientsService: Service {
    let clients: PeerClients

    func run() async throws {
        try? await gracefulShutdown()
        clients.shutdown()
    }
}
