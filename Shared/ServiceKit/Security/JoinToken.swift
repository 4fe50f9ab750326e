import Foundation
import Integrity

/// A one-time join token (`tessera certs join-token`): `tsj.ID.SECRET.FINGERPRINT`.
/// - ID (16 hex digits) names the token in the store and in logs; it is not secret.
/// - SECRET (32 random bytes, base64url) proves the holder was given the token; the store
///   keeps only its SHA-256, as for API keys (a long random secret needs no slow hash).
/// - FINGERPRINT is the SHA-256 of the cluster CA's certificate, so the joining machine can
///   tell the real enrollment server from an impostor before sending the secret (as
///   kubeadm's discovery hash does).
public struct JoinToken: Sendable, Equatable, CustomStringConvertible {
    static let prefix = "tsj"

    public var id: String
    public var secret: String
    public var authorityFingerprint: String

    public init(id: String, secret: String, authorityFingerprint: String) {
        self.id = id
        self.secret = secret
        self.authorityFingerprint = authorityFingerprint
    }

    /// A fresh token for the authority with this fingerprint.
    public static func generate(authorityFingerprint: String) -> JoinToken {
        JoinToken(
            id: Digests.hex(randomBytes(8)),
            secret: Data(randomBytes(32)).base64URLEncoded(),
            authorityFingerprint: authorityFingerprint)
    }

    /// The token as printed and pasted: one word, safe in a shell.
    public var description: String {
        [Self.prefix, id, secret, authorityFingerprint].joined(separator: ".")
    }

    /// Reads a pasted token; a malformed one is an error saying what a token looks like
    /// (never repeating the secret).
    public init(parsing text: String) throws {
        let parts = text.trimmingCharacters(in: .whitespacesAndNewlines)
            .split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        let hex = Set("0123456789abcdef")
        let base64URL = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
        guard parts.count == 4, parts[0] == Self.prefix,
            parts[1].count == 16, parts[1].allSatisfy({ hex.contains($0) }),
            parts[2].count == 43, parts[2].allSatisfy({ base64URL.contains($0) }),
            parts[3].count == 64, parts[3].allSatisfy({ hex.contains($0) })
        else {
            throw EnrollmentError.malformedToken
        }
        self.init(id: parts[1], secret: parts[2], authorityFingerprint: parts[3])
    }

    /// What the store keeps instead of the secret.
    public static func hash(secret: String) -> String {
        Digests.hex(Digests.sha256(Data(secret.utf8)))
    }

    private static func randomBytes(_ count: Int) -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        var bytes: [UInt8] = []
        for _ in 0..<count { bytes.append(UInt8.random(in: 0...255, using: &generator)) }
        return bytes
    }
}

extension Data {
    /// Base64url without padding (RFC 4648 §5).
    fileprivate func base64URLEncoded() -> String {
        base64EncodedString().replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }
}
