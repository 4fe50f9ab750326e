import GRPCCore
import ServiceLifecycle
import Synchronization

/// One long-lived gRPC client per peer address, made on first use, so a service that talks
/// to many peers (workers, the next stage, the cache-manager) reuses HTTP/2 connections
/// instead of dialling per call. The pool is a `Service`: every client's connections run as
/// child tasks of `run()`, and graceful shutdown closes them all (in-flight calls finish).
/// List it before the services that use it, so the group stops it after them.
public final class ClientPool: Service, Sendable {
    public enum PoolError: Error, Sendable, CustomStringConvertible {
        /// The pool has shut down (the service is stopping).
        case closed

        public var description: String { "the service is shutting down" }
    }

    private struct State {
        var clients: [ListenAddress: TesseraGRPCClient] = [:]
        var closed = false
    }

    private let state = Mutex(State())
    private let started: AsyncStream<TesseraGRPCClient>
    private let starter: AsyncStream<TesseraGRPCClient>.Continuation

    /// How long closing connections may take at shutdown (as `ClientService`'s).
    public let closeGrace: Duration

    public init(closeGrace: Duration = .seconds(2)) {
        (started, starter) = AsyncStream.makeStream()
        self.closeGrace = closeGrace
    }

    /// The client for `address`, connecting on first use. Its calls wait until `run()` runs
    /// its connections.
    public func client(for address: ListenAddress) throws -> TesseraGRPCClient {
        try state.withLock { state in
            if let existing = state.clients[address] { return existing }
            guard !state.closed else { throw PoolError.closed }
            let client = try ServiceClient.make(address)
            state.clients[address] = client
            starter.yield(client)
            return client
        }
    }

    /// Drops a peer's client (the peer died: its address may come back as a restarted
    /// process, which gets a fresh connection on next use).
    public func remove(_ address: ListenAddress) {
        let client = state.withLock { $0.clients.removeValue(forKey: address) }
        client?.beginGracefulShutdown()
    }

    /// Runs every client's connections until graceful shutdown or cancellation. Connections
    /// still open `closeGrace` after that (a peer's name being resolved) are not waited for.
    public func run() async throws {
        let grace = closeGrace
        await withDiscardingTaskGroup { group in
            group.addTask { [self] in
                try? await gracefulShutdown()
                close()
            }
            for await client in started {
                group.addTask {
                    try? await withBoundedCancellation(grace: grace) {
                        try await client.runConnections()
                    }
                }
            }
            group.cancelAll()  // cancelled before shutdown: stop waiting for it
        }
    }

    /// Refuses new clients and lets the open ones finish their calls and close.
    private func close() {
        let clients = state.withLock { state in
            state.closed = true
            return Array(state.clients.values)
        }
        starter.finish()
        for client in clients { client.beginGracefulShutdown() }
    }
}
