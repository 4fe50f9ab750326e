import Crypto
import Foundation
import SwiftASN1
import X509

/// The signing side of worker enrollment, held by whoever has the CA key (the scheduler): it
/// spends a join token on a worker certificate for a key the joining machine made itself.
/// The key never leaves that machine and the CA key never leaves this one.
public struct EnrollmentAuthority: Sendable {
    public let directory: CertificateDirectory

    /// Refuses a directory without the CA key: enrollment cannot sign without it.
    public init(directory: CertificateDirectory) throws {
        guard directory.hasAuthorityKey else {
            throw EnrollmentError.noAuthorityKey(directory.path)
        }
        self.directory = directory
    }

    public var tokens: JoinTokenStore { JoinTokenStore(directory: directory) }

    /// The CA certificate a joining machine checks against its token's fingerprint.
    public func authorityPEM() throws -> String {
        try directory.authority().certificatePEM
    }

    /// Checks the signing request (its signature proves the caller holds the key; P-256, as
    /// every other cluster key; the names it asks to be reached at, `EnrollmentNames`), spends
    /// the token on a name, and issues a worker certificate for that name and those addresses.
    /// The request is checked before the token is spent, so a bad request leaves the token
    /// usable. Only the key and the alternative names are taken from the request: the subject
    /// and role come from the token and the authority.
    public func enroll(
        tokenID: String, secret: String, signingRequestDER: [UInt8], requestedName: String,
        now: Date = Date()
    ) throws -> EnrolledCertificate {
        let request: CertificateSigningRequest
        do {
            request = try CertificateSigningRequest(derEncoded: signingRequestDER)
        } catch {
            throw EnrollmentError.badRequest("the signing request is not DER PKCS#10: \(error)")
        }
        guard request.publicKey.isValidSignature(request.signature, for: request) else {
            throw EnrollmentError.badRequest("the signing request's signature does not verify")
        }
        guard P256.Signing.PublicKey(request.publicKey) != nil else {
            throw EnrollmentError.badRequest("the key must be P-256 ECDSA")
        }
        let alternativeNames = try EnrollmentNames.validated(
            EnrollmentNames.requested(in: request))
        let authority = try directory.authority()
        let name = try tokens.spend(
            id: tokenID, secret: secret, requestedName: requestedName, now: now)
        let certificate = try authority.issue(
            role: .worker, name: name, publicKey: request.publicKey, extraNames: alternativeNames)
        return EnrolledCertificate(
            name: name, certificatePEM: try certificate.serializeAsPEM().pemString,
            authorityPEM: try authority.certificatePEM)
    }
}

/// What an enrollment returns to the joining machine.
public struct EnrolledCertificate: Sendable, Equatable {
    public var name: String
    public var certificatePEM: String
    public var authorityPEM: String

    public init(name: String, certificatePEM: String, authorityPEM: String) {
        self.name = name
        self.certificatePEM = certificatePEM
        self.authorityPEM = authorityPEM
    }
}
