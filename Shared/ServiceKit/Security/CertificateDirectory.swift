import Foundation

/// A directory of cluster certificates: `ca.pem` and `ca.key` (the authority), and for each
/// holder `NAME.pem` and `NAME.key`. `tessera certs` writes it; every service reads its own
/// pair and `ca.pem` from it (`--tls-dir`). Private keys are written readable by the owner only.
public struct CertificateDirectory: Sendable {
    public let path: String

    public init(path: String) {
        self.path = path
    }

    var authorityCertificatePath: String { file("ca.pem") }
    var authorityKeyPath: String { file("ca.key") }
    public var revocationListPath: String { file(RevocationList.fileName) }
    public func certificatePath(_ name: String) -> String { file("\(name).pem") }
    public func keyPath(_ name: String) -> String { file("\(name).key") }

    public var hasAuthority: Bool {
        FileManager.default.fileExists(atPath: authorityCertificatePath)
    }

    /// Whether this directory can sign (the scheduler's, for enrollment; never a worker's).
    public var hasAuthorityKey: Bool {
        FileManager.default.fileExists(atPath: authorityKeyPath)
    }

    public func hasCertificate(_ name: String) -> Bool {
        FileManager.default.fileExists(atPath: certificatePath(name))
            && FileManager.default.fileExists(atPath: keyPath(name))
    }

    /// Creates a new authority here; refuses to replace an existing one (that would orphan
    /// every certificate it signed).
    @discardableResult
    public func createAuthority() throws -> CertificateAuthority {
        guard !hasAuthority else { throw CertificateError.exists(authorityCertificatePath) }
        try FileManager.default.createDirectory(
            atPath: path, withIntermediateDirectories: true,
            attributes: [.posixPermissions: 0o700])
        let authority = try CertificateAuthority.create()
        try write(authority.keyPEM, to: authorityKeyPath, secret: true)
        try write(try authority.certificatePEM, to: authorityCertificatePath, secret: false)
        return authority
    }

    /// The authority stored here.
    public func authority() throws -> CertificateAuthority {
        try CertificateAuthority(
            certificatePEM: read(authorityCertificatePath), keyPEM: read(authorityKeyPath))
    }

    /// Issues a certificate for `name` as `role` and writes `NAME.pem` and `NAME.key`.
    public func issue(role: ServiceRole, name: String, extraNames: [String] = []) throws {
        try Self.checkFileName(name)
        let issued = try authority().issue(role: role, name: name, extraNames: extraNames)
        try write(issued.keyPEM, to: keyPath(name), secret: true)
        try write(issued.certificatePEM, to: certificatePath(name), secret: false)
    }

    /// Writes a certificate issued elsewhere (worker enrollment) with its key and authority:
    /// `ca.pem`, `NAME.pem`, `NAME.key` (the key readable by the owner only).
    public func install(_ enrolled: EnrolledCertificate, keyPEM: String) throws {
        try Self.checkFileName(enrolled.name)
        try FileManager.default.createDirectory(
            atPath: path, withIntermediateDirectories: true,
            attributes: [.posixPermissions: 0o700])
        try write(enrolled.authorityPEM, to: authorityCertificatePath, secret: false)
        try write(keyPEM, to: keyPath(enrolled.name), secret: true)
        try write(enrolled.certificatePEM, to: certificatePath(enrolled.name), secret: false)
    }

    /// The authority's certificate as stored here, if any.
    public func authorityCertificatePEM() throws -> String {
        try read(authorityCertificatePath)
    }

    /// What a service named `name` needs for mutual TLS: the authority's certificate and its own pair.
    public func material(for name: String) throws -> TLSMaterial {
        try TLSMaterial(
            authorityPEM: read(authorityCertificatePath),
            certificatePEM: read(certificatePath(name)),
            keyPEM: read(keyPath(name)), revocationListPath: revocationListPath)
    }

    /// Names become file names: no separators, no hidden files, not the authority's own.
    static func checkFileName(_ name: String) throws {
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")
        guard !name.isEmpty, name.count <= 64, !name.hasPrefix("."), name != "ca",
            name.allSatisfy({ allowed.contains($0) })
        else {
            throw CertificateError.badName(name)
        }
    }

    func file(_ name: String) -> String {
        URL(fileURLWithPath: path).appendingPathComponent(name).path
    }

    private func read(_ path: String) throws -> String {
        guard FileManager.default.fileExists(atPath: path) else {
            throw CertificateError.missing(path)
        }
        do {
            return try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw CertificateError.unreadable(path, "\(error.localizedDescription)")
        }
    }

    func write(_ text: String, to path: String, secret: Bool) throws {
        try FileManager.default.createDirectory(
            atPath: self.path, withIntermediateDirectories: true)
        // Created with its final permissions, so a key is never readable by others even briefly.
        let created = FileManager.default.createFile(
            atPath: path, contents: Data(text.utf8),
            attributes: [.posixPermissions: secret ? 0o600 : 0o644])
        guard created else { throw CertificateError.unreadable(path, "cannot write") }
    }
}
