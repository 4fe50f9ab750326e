import Crypto
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import SwiftASN1
import TesseraProto
import X509

/// The joining side of worker enrollment (`inference-worker --join-token T --enroll-address
/// A`): makes a key on this machine, authenticates the enrollment server by the CA
/// fingerprint in the token, sends a signing request with the token, and writes the issued
/// certificate into the worker's `--tls-dir`.
///
/// The secret is sent only over a connection whose server certificate chains to the pinned
/// CA and names the address dialled, so an impostor at that address learns nothing.
public enum WorkerEnrollment {
    /// Remembers which token this directory was enrolled with, so a restarted worker (same
    /// flags, token now spent) starts with the certificate it got instead of failing.
    static let markerFileName = "enrolled"

    /// The certificate name to use from `directory`, enrolling first unless this token
    /// already enrolled it. `requestedName` is the worker id (the token's own name wins);
    /// `alternativeNames` are the DNS names and addresses peers will dial this worker at
    /// (checked here as the authority will check them, `EnrollmentNames`), which the
    /// certificate carries besides loopback and its name.
    public static func enroll(
        token: JoinToken, server: ListenAddress, directory: CertificateDirectory,
        requestedName: String, alternativeNames: [String] = [], timeout: Duration = .seconds(20)
    ) async throws -> String {
        if let name = alreadyEnrolled(token: token, directory: directory) { return name }
        let alternativeNames = try EnrollmentNames.validated(alternativeNames)
        let authorityPEM = try await fetchAuthority(server: server, timeout: timeout)
        let fingerprint = try CertificateFingerprint.sha256(pem: authorityPEM)
        guard fingerprint == token.authorityFingerprint else {
            throw EnrollmentError.authorityMismatch(
                expected: token.authorityFingerprint, got: fingerprint)
        }
        let key = P256.Signing.PrivateKey()
        let enrolled = try await requestCertificate(
            token: token, server: server, authorityPEM: authorityPEM, key: key,
            requestedName: requestedName, alternativeNames: alternativeNames, timeout: timeout)
        guard try CertificateFingerprint.sha256(pem: enrolled.authorityPEM) == fingerprint else {
            throw EnrollmentError.authorityMismatch(
                expected: fingerprint,
                got: try CertificateFingerprint.sha256(pem: enrolled.authorityPEM))
        }
        try directory.install(enrolled, keyPEM: key.pemRepresentation)
        try "\(token.id) \(enrolled.name)\n".write(
            toFile: directory.file(markerFileName), atomically: true, encoding: .utf8)
        return enrolled.name
    }

    /// The name this token enrolled in `directory` before, if its certificate is still there
    /// under the same CA.
    static func alreadyEnrolled(token: JoinToken, directory: CertificateDirectory) -> String? {
        guard
            let marker = try? String(
                contentsOfFile: directory.file(markerFileName), encoding: .utf8)
        else { return nil }
        let fields = marker.split(whereSeparator: \.isWhitespace).map(String.init)
        guard fields.count == 2, fields[0] == token.id, directory.hasCertificate(fields[1]),
            let authority = try? directory.authorityCertificatePEM(),
            (try? CertificateFingerprint.sha256(pem: authority)) == token.authorityFingerprint
        else { return nil }
        return fields[1]
    }

    /// The CA certificate, over TLS that checks nothing: it is public, and the caller checks
    /// it against the pinned fingerprint before trusting it.
    static func fetchAuthority(server: ListenAddress, timeout: Duration) async throws -> String {
        let security = HTTP2ClientTransport.Posix.TransportSecurity.tls {
            $0.serverCertificateVerification = .noVerification
        }
        return try await withClient(server, security: security) { client in
            try await Tessera_V1_Enrollment.Client(wrapping: client).getAuthority(
                Tessera_V1_GetAuthorityRequest(), options: callOptions(timeout)
            ).authorityPem
        }
    }

    /// Sends the token and a signing request over TLS that trusts only the pinned CA and
    /// checks the server's name against the address.
    static func requestCertificate(
        token: JoinToken, server: ListenAddress, authorityPEM: String,
        key: P256.Signing.PrivateKey, requestedName: String, alternativeNames: [String],
        timeout: Duration
    ) async throws -> EnrolledCertificate {
        let subject = try DistinguishedName {
            OrganizationName("Tessera")
            OrganizationalUnitName(ServiceRole.worker.rawValue)
            CommonName(requestedName.isEmpty ? "worker" : requestedName)
        }
        let signingRequest = try CertificateSigningRequest(
            version: .v1, subject: subject, privateKey: Certificate.PrivateKey(key),
            attributes: EnrollmentNames.attributes(asking: alternativeNames),
            signatureAlgorithm: .ecdsaWithSHA256)
        var serializer = DER.Serializer()
        try serializer.serialize(signingRequest)
        var request = Tessera_V1_EnrollRequest()
        request.tokenID = token.id
        request.tokenSecret = token.secret
        request.csrDer = Data(serializer.serializedBytes)
        request.name = requestedName
        let security = HTTP2ClientTransport.Posix.TransportSecurity.tls {
            $0.trustRoots = .certificates([.bytes(Array(authorityPEM.utf8), format: .pem)])
            $0.serverCertificateVerification = .fullVerification
        }
        let message = request
        let response = try await withClient(server, security: security, checkingRoles: true) {
            client in
            try await Tessera_V1_Enrollment.Client(wrapping: client).enroll(
                message, options: callOptions(timeout))
        }
        return EnrolledCertificate(
            name: response.name, certificatePEM: response.certificatePem,
            authorityPEM: response.authorityPem)
    }

    private static func callOptions(_ timeout: Duration) -> CallOptions {
        var options = CallOptions.defaults
        options.timeout = timeout
        return options
    }

    /// `checkingRoles`: the server must also present a scheduler's certificate
    /// (`ServerRoleCheckInterceptor`); only meaningful once the CA is pinned.
    private static func withClient<Result: Sendable>(
        _ server: ListenAddress, security: HTTP2ClientTransport.Posix.TransportSecurity,
        checkingRoles: Bool = false,
        _ body: @Sendable (TesseraGRPCClient) async throws -> Result
    ) async throws -> Result {
        var config = HTTP2ClientTransport.Posix.Config.defaults
        var interceptors: [any ClientInterceptor] = []
        if checkingRoles { (config, interceptors) = ServerIdentityLedger.checking(config) }
        let transport = try HTTP2ClientTransport.Posix(
            target: ServiceClient.target(server), transportSecurity: security, config: config)
        let client = GRPCClient(transport: transport, interceptors: interceptors)
        return try await withThrowingDiscardingTaskGroup { group in
            group.addTask { try await client.runConnections() }
            defer { client.beginGracefulShutdown() }
            return try await body(client)
        }
    }
}
