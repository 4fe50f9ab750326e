import Crypto
import Foundation
import Testing

@testable import Integrity

/// Ed25519 through swift-crypto checked against RFC 8032's test vectors, and the signed
/// statements (commitments, receipts) against tampering with each field.
@Suite struct SignatureTests {
    /// RFC 8032, section 7.1, TEST 2 (one-byte message 0x72).
    @Test func rfc8032TestVector() throws {
        let secret = Digests.bytes(
            hex: "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb")!
        let key = try Curve25519.Signing.PrivateKey(rawRepresentation: secret)
        let identity = SigningIdentity(privateKey: key)
        #expect(
            Digests.hex(identity.publicKey)
                == "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c")
        let expected =
            "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"
            + "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"
        // Ed25519 is deterministic: the signature must be exactly RFC 8032's.
        #expect(Digests.hex(identity.sign([0x72])) == expected)
        #expect(
            SigningIdentity.isValid(
                signature: Digests.bytes(hex: expected)!, of: [0x72], publicKey: identity.publicKey)
        )
        #expect(
            !SigningIdentity.isValid(
                signature: Digests.bytes(hex: expected)!, of: [0x73], publicKey: identity.publicKey)
        )
    }

    static func commitment() -> StepCommitment {
        StepCommitment(
            workerID: "w-1", sessionID: "s-1", step: 3, layers: 0..<15, shardSHA256: "ab",
            position: 7, count: 1, inputDigest: Digests.tokens([42]),
            outputDigest: Digests.floats([1, 2, 3]), fingerprint: [1, 2, 3], isLastStage: false,
            sampledToken: 0, replay: false, arithmetic: 2,
            unixMilliseconds: 1_700_000_000_000)
    }

    @Test func aCommitmentSignatureCoversEveryField() {
        let identity = SigningIdentity()
        var signed = Self.commitment()
        signed.sign(with: identity)
        #expect(signed.hasValidSignature(publicKey: identity.publicKey))
        #expect(!signed.hasValidSignature(publicKey: SigningIdentity().publicKey))
        let tamperings: [(String, (inout StepCommitment) -> Void)] = [
            ("worker", { $0.workerID = "w-2" }), ("session", { $0.sessionID = "s-2" }),
            ("step", { $0.step = 4 }), ("layers", { $0.layers = 0..<14 }),
            ("shard", { $0.shardSHA256 = "ac" }), ("position", { $0.position = 8 }),
            ("count", { $0.count = 2 }), ("input", { $0.inputDigest[0] ^= 1 }),
            ("output", { $0.outputDigest[31] ^= 1 }), ("fingerprint", { $0.fingerprint = [1, 2] }),
            ("last", { $0.isLastStage = true }), ("token", { $0.sampledToken = 1 }),
            ("replay", { $0.replay = true }), ("arithmetic", { $0.arithmetic = 1 }),
            ("time", { $0.unixMilliseconds += 1 }),
        ]
        for (field, tamper) in tamperings {
            var copy = signed
            tamper(&copy)
            #expect(!copy.hasValidSignature(publicKey: identity.publicKey), "\(field)")
        }
    }

    @Test func aReceiptSignatureCoversItsStagesAndRoot() {
        let gateway = SigningIdentity()
        var receipt = ReceiptBody(
            receiptID: "r-1", merkleRoot: Array(repeating: 7, count: 32), modelName: "m",
            modelSHA256: "cd",
            stages: [ReceiptStage(workerID: "w-1", shardSHA256: "ab", layers: 0..<30)],
            leafCount: 9, unixMilliseconds: 5, gatewayID: "g", gatewayPublicKey: [])
        receipt.sign(with: gateway)
        #expect(receipt.hasValidSignature)
        var moved = receipt
        moved.stages[0].layers = 0..<29
        #expect(!moved.hasValidSignature)
        var rooted = receipt
        rooted.merkleRoot[0] = 8
        #expect(!rooted.hasValidSignature)
        var rekeyed = receipt
        rekeyed.gatewayPublicKey = SigningIdentity().publicKey
        #expect(!rekeyed.hasValidSignature)
    }

    @Test func keyFileIsKeptAndADamagedOneRefused() throws {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("tessera-key-\(UInt64.random(in: 0...UInt64.max))").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let first = try SigningIdentity.loadOrCreate(directory: directory, fileName: "signing-key")
        #expect(first.created)
        let again = try SigningIdentity.loadOrCreate(directory: directory, fileName: "signing-key")
        #expect(!again.created)
        #expect(again.identity.publicKey == first.identity.publicKey)
        let attributes = try FileManager.default.attributesOfItem(
            atPath: directory + "/signing-key")
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: directory + "/signing-key"))
        #expect(throws: SigningKeyError.self) {
            try SigningIdentity.loadOrCreate(directory: directory, fileName: "signing-key")
        }
    }
}
