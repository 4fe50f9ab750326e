import APIKeys
import Foundation
import ServiceKit
import Synchronization

/// The gateway's view of the key store: which key a presented secret is, remembered for a
/// short while so a request costs no SQLite read. A secret not remembered is looked up again
/// (so a key created while the gateway runs works at once); one remembered is looked up again
/// after `timeToLive` (so a revoked key stops working within that long). Unknown secrets are
/// remembered too, so a client hammering with a bad key does not hammer the store; at most
/// `capacity` entries are kept, the oldest dropped first.
final class KeyDirectory: Sendable {
    private struct Entry {
        var record: APIKeyRecord?
        var fetched: ContinuousClock.Instant
    }

    let store: APIKeyStore
    let timeToLive: Duration
    let capacity: Int
    /// Keyed by the secret's SHA-256, so not even memory holds the secrets longer than a request.
    private let entries = Mutex([String: Entry]())

    init(store: APIKeyStore, timeToLive: Duration = .seconds(2), capacity: Int = 4096) {
        self.store = store
        self.timeToLive = timeToLive
        self.capacity = capacity
    }

    /// The key `secret` belongs to (revoked or not), or nil when the store has none.
    func record(forSecret secret: String) async throws -> APIKeyRecord? {
        let hash = APIKeySecret.hash(secret)
        let now = ContinuousClock.now
        if let entry = entries.withLock({ $0[hash] }), now - entry.fetched < timeToLive {
            return entry.record
        }
        let store = self.store
        let record = try await Offload.run { try store.record(forSecret: secret) }
        entries.withLock { entries in
            if entries.count >= capacity, entries[hash] == nil,
                let oldest = entries.min(by: { $0.value.fetched < $1.value.fetched })?.key
            {
                entries.removeValue(forKey: oldest)
            }
            entries[hash] = Entry(record: record, fetched: now)
        }
        return record
    }
}
