import GRPCCore
import ServiceKit
import ServiceLifecycle
import Synchronization
import TesseraProto

/// One long-lived gRPC client per worker address, so a request does not pay for a new
/// HTTP/2 connection. A client whose worker failed is dropped and made afresh on next use
/// (its address may come back as a restarted worker). Runs in the service group so that
/// shutdown closes every connection.
final class WorkerConnections: Service, Sendable {
    private struct Entry {
        var client: TesseraGRPCClient
        var task: Task<Void, Never>
    }

    private let entries = Mutex<[String: Entry]>([:])

    init() {}

    func client(for address: String) throws -> Tessera_V1_InferenceWorker.Client<TesseraClientTransport> {
        guard let parsed = ListenAddress(parsing: address) else {
            throw GatewayError(.internalError, "the scheduler gave a worker address that is not host:port: \(address)")
        }
        let client = try entries.withLock { entries -> TesseraGRPCClient in
            if let entry = entries[address] { return entry.client }
            let client = try ServiceClient.make(parsed)
            let task = Task<Void, Never> { try? await client.runConnections() }
            entries[address] = Entry(client: client, task: task)
            return client
        }
        return Tessera_V1_InferenceWorker.Client(wrapping: client)
    }

    /// Forgets the client of a worker that failed.
    func discard(_ address: String) {
        let entry = entries.withLock { $0.removeValue(forKey: address) }
        entry?.client.beginGracefulShutdown()
    }

    func run() async throws {
        try? await gracefulShutdown()
        let all = entries.withLock { entries in
            defer { entries.removeAll() }
            return Array(entries.values)
        }
        for entry in all { entry.client.beginGracefulShutdown() }
        for entry in all { await entry.task.value }
    }
}
