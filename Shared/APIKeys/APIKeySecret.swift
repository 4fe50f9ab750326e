import Crypto
import Foundation

/// The secret a client sends as `Authorization: Bearer …`: `tsk-` and 32 random bytes in
/// base64url (256 bits, so guessing is hopeless and a plain hash is enough to store it).
public enum APIKeySecret {
    public static let scheme = "tsk-"

    public static func generate() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
        return scheme + base64URL(Data(bytes))
    }

    /// What the store keeps: the SHA-256 of the secret, in hex.
    public static func hash(_ secret: String) -> String {
        SHA256.hash(data: Data(secret.utf8)).map { String(format: "%02x", $0) }.joined()
    }

    /// The part shown in listings: the scheme and four characters.
    public static func displayPrefix(_ secret: String) -> String {
        String(secret.prefix(scheme.count + 4))
    }

    /// Whether `text` looks like a secret at all (anything else is refused before a lookup).
    public static func isWellFormed(_ text: String) -> Bool {
        text.hasPrefix(scheme) && text.count >= scheme.count + 16 && text.count <= 256
            && text.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7f }
    }

    static func base64URL(_ data: Data) -> String {
        data.base64EncodedString()
            .replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }
}
