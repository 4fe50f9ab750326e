import Crypto
import Foundation
import Integrity
import SwiftASN1
import X509

/// A cluster certificate authority: a self-signed P-256 certificate and its key. It signs
/// one certificate per service, worker or operator; every server and client trusts it and
/// nothing else. P-256 rather than Ed25519 because every TLS stack (swift-nio-ssl's BoringSSL,
/// grpcio, openssl) handles P-256 certificates without extra configuration.
public struct CertificateAuthority {
    public let certificate: Certificate
    let key: P256.Signing.PrivateKey

    /// A new authority, valid for `days` (ten years by default: rotating the CA means
    /// re-issuing every certificate, see docs/security.md).
    public static func create(commonName: String = "Tessera cluster CA", days: Int = 3650) throws
        -> CertificateAuthority
    {
        let key = P256.Signing.PrivateKey()
        let publicKey = Certificate.PublicKey(key.publicKey)
        let name = try DistinguishedName {
            OrganizationName("Tessera")
            CommonName(commonName)
        }
        let now = Date()
        let certificate = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: publicKey,
            notValidBefore: now.addingTimeInterval(-3600),
            notValidAfter: now.addingTimeInterval(Double(days) * 86400),
            issuer: name, subject: name, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                Critical(KeyUsage(keyCertSign: true, cRLSign: true))
                SubjectKeyIdentifier(hash: publicKey)
            },
            issuerPrivateKey: Certificate.PrivateKey(key))
        return CertificateAuthority(certificate: certificate, key: key)
    }

    /// Reads an authority written by `certificatePEM` / `keyPEM`.
    public init(certificatePEM: String, keyPEM: String) throws {
        certificate = try Certificate(pemEncoded: certificatePEM)
        key = try P256.Signing.PrivateKey(pemRepresentation: keyPEM)
    }

    init(certificate: Certificate, key: P256.Signing.PrivateKey) {
        self.certificate = certificate
        self.key = key
    }

    public var certificatePEM: String {
        get throws { try certificate.serializeAsPEM().pemString }
    }
    public var keyPEM: String { key.pemRepresentation }

    /// A certificate for `name` acting as `role`, good as both TLS server and client (a
    /// service is both). Its subject is `O=Tessera, OU=ROLE, CN=NAME`; its alternative names
    /// are loopback, `localhost`, the name and the role's service name (compose dials
    /// services by those), plus `extraNames` (DNS names or IP addresses).
    public func issue(
        role: ServiceRole, name: String, extraNames: [String] = [], days: Int = 825
    ) throws -> IssuedCertificate {
        let key = P256.Signing.PrivateKey()
        let certificate = try issue(
            role: role, name: name, publicKey: Certificate.PublicKey(key.publicKey),
            extraNames: extraNames, days: days)
        return IssuedCertificate(
            certificatePEM: try certificate.serializeAsPEM().pemString,
            keyPEM: key.pemRepresentation)
    }

    /// The same certificate for a key held elsewhere (worker enrollment: the joining machine
    /// made the key and sent only its public half, in a signing request).
    public func issue(
        role: ServiceRole, name: String, publicKey: Certificate.PublicKey,
        extraNames: [String] = [], days: Int = 825
    ) throws -> Certificate {
        let subject = try DistinguishedName {
            OrganizationName("Tessera")
            OrganizationalUnitName(role.rawValue)
            CommonName(name)
        }
        var names: [GeneralName] = []
        for alternative in ["localhost", "127.0.0.1", "::1", name, role.rawValue] + extraNames {
            let general = try AlternativeName.parse(alternative)
            if !names.contains(general) { names.append(general) }
        }
        let now = Date()
        let certificate = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: publicKey,
            notValidBefore: now.addingTimeInterval(-3600),
            notValidAfter: now.addingTimeInterval(Double(days) * 86400),
            issuer: self.certificate.subject, subject: subject,
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true))
                try ExtendedKeyUsage([.serverAuth, .clientAuth])
                SubjectAlternativeNames(names)
                SubjectKeyIdentifier(hash: publicKey)
                AuthorityKeyIdentifier(
                    keyIdentifier: SubjectKeyIdentifier(hash: self.certificate.publicKey)
                        .keyIdentifier)
            },
            issuerPrivateKey: Certificate.PrivateKey(self.key))
        return certificate
    }

    /// SHA-256 of the authority certificate's DER encoding, in lowercase hex: what a join
    /// token pins, and what `openssl x509 -fingerprint -sha256` prints (without colons).
    public var fingerprint: String {
        get throws { try CertificateFingerprint.sha256(certificate) }
    }
}

/// Certificate fingerprints as a joining machine checks them.
public enum CertificateFingerprint {
    public static func sha256(_ certificate: Certificate) throws -> String {
        var serializer = DER.Serializer()
        try serializer.serialize(certificate)
        return Digests.hex(Digests.sha256(serializer.serializedBytes))
    }

    public static func sha256(pem: String) throws -> String {
        try sha256(Certificate(pemEncoded: pem))
    }
}

/// A leaf certificate and its private key, both PEM.
public struct IssuedCertificate: Sendable {
    public var certificatePEM: String
    public var keyPEM: String
}

/// Subject alternative names given as text: an IPv4 or IPv6 address, else a DNS name.
enum AlternativeName {
    static func parse(_ text: String) throws -> GeneralName {
        if let bytes = ipv4Bytes(text) ?? ipv6Bytes(text) {
            return .ipAddress(ASN1OctetString(contentBytes: ArraySlice(bytes)))
        }
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.*")
        guard !text.isEmpty, text.count <= 253, text.allSatisfy({ allowed.contains($0) }) else {
            throw CertificateError.badName(text)
        }
        return .dnsName(text)
    }

    /// An address as a certificate carries it (4 or 16 bytes) in its usual notation.
    static func text(ofAddress bytes: [UInt8]) -> String? {
        if bytes.count == 4 { return bytes.map(String.init).joined(separator: ".") }
        guard bytes.count == 16 else { return nil }
        var address = in6_addr()
        withUnsafeMutableBytes(of: &address) { $0.copyBytes(from: bytes) }
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        guard inet_ntop(AF_INET6, &address, &buffer, socklen_t(buffer.count)) != nil else {
            return nil
        }
        return String(cString: buffer)
    }

    private static func ipv4Bytes(_ text: String) -> [UInt8]? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var bytes: [UInt8] = []
        for part in parts {
            guard let byte = UInt8(part) else { return nil }
            bytes.append(byte)
        }
        return bytes
    }

    private static func ipv6Bytes(_ text: String) -> [UInt8]? {
        guard text.contains(":") else { return nil }
        var address = in6_addr()
        guard inet_pton(AF_INET6, text, &address) == 1 else { return nil }
        return withUnsafeBytes(of: &address) { Array($0) }
    }
}

public enum CertificateError: Error, CustomStringConvertible, Equatable {
    case badName(String)
    case missing(String)
    case unreadable(String, String)
    case exists(String)

    public var description: String {
        switch self {
        case .badName(let name):
            "'\(name)' is neither an IP address nor a DNS name (letters, digits, '-' and '.')"
        case .missing(let path): "\(path) does not exist"
        case .unreadable(let path, let reason): "cannot read \(path): \(reason)"
        case .exists(let path): "\(path) already exists"
        }
    }
}
