import Foundation
import GRPCCore
import Synchronization

/// One long-lived gRPC client per peer address, created on first use, so that services that
/// talk to many workers reuse HTTP/2 connections instead of dialling per call.
public final class ClientPool: Sendable {
    private struct Entry {
        let client: TesseraGRPCClient
        let task: Task<Void, Never>
    }

    private let entries = Mutex<[ListenAddress: Entry]>([:])

    public init() {}

    public func client(for address: ListenAddress) throws -> TesseraGRPCClient {
        if let existing = entries.withLock({ $0[address]?.client }) { return existing }
        let client = try ServiceClient.make(address)
        let created = entries.withLock { entries -> TesseraGRPCClient in
            if let raced = entries[address] { return raced.client }
            let task = Task { _ = try? await client.runConnections() }
            entries[address] = Entry(client: client, task: task)
            return client
        }
        return created
    }

    /// Drops a peer's client (for example after the peer died), closing its connections.
    public func remove(_ address: ListenAddress) {
        let entry = entries.withLock { $0.removeValue(forKey: address) }
        entry?.client.beginGracefulShutdown()
    }

    public func closeAll() {
        let all = entries.withLock { entries in
            defer { entries.removeAll() }
            return Array(entries.values)
        }
        for entry in all { entry.client.beginGracefulShutdown() }
    }
}
