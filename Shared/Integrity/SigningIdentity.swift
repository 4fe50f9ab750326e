import Crypto
import Foundation

/// An Ed25519 key that signs a service's statements (a worker's commitments, a gateway's
/// receipts). Kept as the raw 32-byte private key in a file readable only by its owner, made
/// on first start; without a state directory the key lives as long as the process (and a
/// restarted worker is a new identity to the verifier).
///
/// `@unchecked Sendable`: the private key is an immutable value (its raw bytes, never
/// mutated after creation); swift-crypto 3.12 does not mark it Sendable on Linux.
public struct SigningIdentity: @unchecked Sendable {
    public let privateKey: Curve25519.Signing.PrivateKey
    public var publicKey: [UInt8] { Array(privateKey.publicKey.rawRepresentation) }

    public init(privateKey: Curve25519.Signing.PrivateKey = .init()) {
        self.privateKey = privateKey
    }

    public func sign(_ message: [UInt8]) -> [UInt8] {
        // Ed25519 signing cannot fail for a valid key; swift-crypto's API throws for others.
        (try? Array(privateKey.signature(for: message))) ?? []
    }

    public static func isValid(signature: [UInt8], of message: [UInt8], publicKey: [UInt8]) -> Bool
    {
        guard publicKey.count == 32, signature.count == 64,
            let key = try? Curve25519.Signing.PublicKey(rawRepresentation: publicKey)
        else { return false }
        return key.isValidSignature(signature, for: message)
    }

    /// The key in `directory/fileName`, created (mode 0600) when absent. A damaged file is an
    /// error, never silently replaced: a new key would be a different identity.
    public static func loadOrCreate(directory: String, fileName: String) throws -> (
        identity: SigningIdentity, created: Bool
    ) {
        let path = URL(fileURLWithPath: directory).appendingPathComponent(fileName).path
        if let data = FileManager.default.contents(atPath: path) {
            guard data.count == 32,
                let key = try? Curve25519.Signing.PrivateKey(rawRepresentation: data)
            else {
                throw SigningKeyError.damaged(path)
            }
            return (SigningIdentity(privateKey: key), false)
        }
        let identity = SigningIdentity()
        do {
            try FileManager.default.createDirectory(
                atPath: directory, withIntermediateDirectories: true)
            guard
                FileManager.default.createFile(
                    atPath: path, contents: identity.privateKey.rawRepresentation,
                    attributes: [.posixPermissions: 0o600])
            else { throw CocoaError(.fileWriteUnknown) }
        } catch {
            throw SigningKeyError.unwritable(path, "\(error.localizedDescription)")
        }
        return (identity, true)
    }
}

public enum SigningKeyError: Error, CustomStringConvertible {
    case damaged(String)
    case unwritable(String, String)

    public var description: String {
        switch self {
        case .damaged(let path):
            "\(path) does not hold a 32-byte Ed25519 private key; remove it (and the worker from the "
                + "scheduler and verifier) to start as a new identity"
        case .unwritable(let path, let why): "cannot keep the signing key in \(path): \(why)"
        }
    }
}
