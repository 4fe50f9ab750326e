import APIKeys
import Foundation
import Testing

/// The key store: keys are kept only as hashes (the secret never reaches the file), looked
/// up by the secret, revoked by name or id, and their usage adds up.
@Suite(.timeLimit(.minutes(1)))
struct APIKeyStoreTests {
    static func temporaryStore() throws -> (APIKeyStore, String) {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("keys-\(UUID().uuidString)").path
        let path = "\(directory)/\(APIKeyStore.fileName)"
        return (try APIKeyStore(path: path), directory)
    }

    @Test func theFileHoldsTheHashNeverTheKey() throws {
        let (store, directory) = try Self.temporaryStore()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (record, secret) = try store.create(name: "alice", limits: APIKeyLimits())
        #expect(secret.hasPrefix("tsk-") && secret.count == 4 + 43)  // 32 bytes in base64url
        #expect(record.prefix == String(secret.prefix(8)))
        for file in try FileManager.default.contentsOfDirectory(atPath: directory) {
            let bytes = try Data(contentsOf: URL(fileURLWithPath: "\(directory)/\(file)"))
            #expect(bytes.range(of: Data(secret.utf8)) == nil, "the key is in \(file)")
            #expect(bytes.range(of: Data(secret.dropFirst(8).utf8)) == nil)
        }
        let hash = APIKeySecret.hash(secret)
        let stored = try Data(
            contentsOf: URL(fileURLWithPath: "\(directory)/\(APIKeyStore.fileName)"))
        #expect(stored.range(of: Data(hash.utf8)) != nil, "the SHA-256 is what is kept")
    }

    @Test func aKeyIsFoundByItsSecretAndNotByAnother() throws {
        let (store, directory) = try Self.temporaryStore()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let limits = APIKeyLimits(requestsPerMinute: 2, tokensPerMinute: 100, concurrentStreams: 1)
        let (record, secret) = try store.create(name: "bob", limits: limits)
        #expect(try store.record(forSecret: secret) == record)
        #expect(try store.record(forSecret: secret + "x") == nil)
        #expect(try store.record(forSecret: APIKeySecret.generate()) == nil)
        #expect(try store.list().map(\.limits) == [limits])
    }

    @Test func revokedKeysStayListedAndTheirNameCanBeReused() throws {
        let (store, directory) = try Self.temporaryStore()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (first, secret) = try store.create(name: "ci", limits: APIKeyLimits())
        #expect(throws: APIKeyStoreError.nameTaken("ci")) {
            try store.create(name: "ci", limits: APIKeyLimits())
        }
        #expect(try store.revoke("ci").id == first.id)
        #expect(try store.record(forSecret: secret)?.revoked == true)
        let (second, _) = try store.create(name: "ci", limits: APIKeyLimits())
        #expect(try store.revoke(second.id).name == "ci")
        #expect(throws: APIKeyStoreError.notFound("ci")) { try store.revoke("ci") }
        #expect(try store.list().map(\.revoked) == [true, true])
    }

    @Test func usageAddsUp() throws {
        let (store, directory) = try Self.temporaryStore()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (record, secret) = try store.create(name: "u", limits: APIKeyLimits())
        try store.addUsage(
            keyID: record.id, APIKeyUsage(requests: 1, promptTokens: 10, completionTokens: 5))
        try store.addUsage(
            keyID: record.id, APIKeyUsage(requests: 1, promptTokens: 7, completionTokens: 0))
        #expect(
            try store.record(forSecret: secret)?.usage
                == APIKeyUsage(requests: 2, promptTokens: 17, completionTokens: 5))
    }

    @Test func badNamesAndChosenKeysAreRefused() throws {
        let (store, directory) = try Self.temporaryStore()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        #expect(throws: APIKeyStoreError.self) {
            try store.create(name: " ", limits: APIKeyLimits())
        }
        #expect(throws: APIKeyStoreError.self) {
            try store.create(name: "short", limits: APIKeyLimits(), secret: "tsk-abc")
        }
        let chosen = "tsk-" + String(repeating: "k", count: 40)
        #expect(
            try store.create(name: "chosen", limits: APIKeyLimits(), secret: chosen).secret
                == chosen)
    }
}
