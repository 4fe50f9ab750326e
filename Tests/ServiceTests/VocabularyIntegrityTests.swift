import TesseraProto
import Testing

@testable import Gateway

/// The gateway refuses a vocabulary shard whose bytes are not the shard it asked for.
@Suite struct VocabularyIntegrityTests {
    // SHA-256 of "abc" (FIPS 180-2 test vector).
    static let abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"

    func shard(sha256: String, size: UInt64) -> Tessera_V1_ShardRef {
        .with {
            $0.sha256 = sha256
            $0.sizeBytes = size
        }
    }

    @Test func matchingBytesPass() throws {
        try VocabularyStore.verify(Array("abc".utf8), against: shard(sha256: Self.abc, size: 3))
    }

    @Test func corruptedBytesAreRefused() {
        #expect(throws: GatewayError.self) {
            try VocabularyStore.verify(Array("abd".utf8), against: shard(sha256: Self.abc, size: 3))
        }
    }

    @Test func truncatedBytesAreRefused() {
        #expect(throws: GatewayError.self) {
            try VocabularyStore.verify(Array("ab".utf8), against: shard(sha256: Self.abc, size: 3))
        }
    }
}
