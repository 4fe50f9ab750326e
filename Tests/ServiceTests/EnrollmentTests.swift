import Foundation
import GRPCCore
import Scheduler
import ServiceKit
import TesseraProto
import Testing
import X509

/// Worker enrollment with join tokens over real TLS sockets: a scheduler with the CA key and
/// an enrollment listener, and `WorkerEnrollment` as a new machine runs it (its own key, the
/// CA pinned by the token's fingerprint).
@Suite struct EnrollmentTests {
    /// A fresh cluster directory: CA, the scheduler's certificate.
    static func clusterDirectory() throws -> CertificateDirectory {
        let directory = CertificateDirectory(path: temporaryPath("tessera-enroll-ca"))
        try directory.createAuthority()
        try directory.issue(role: .scheduler, name: "scheduler")
        return directory
    }

    static func temporaryPath(_ prefix: String) -> String {
        FileManager.default.temporaryDirectory
            .appendingPathComponent("\(prefix)-\(UUID().uuidString.prefix(8))").path
    }

    /// A scheduler running mutual TLS with enrollment on a port of its own.
    struct Cluster {
        var directory: CertificateDirectory
        var scheduler: RunningService
        var enrollment: ListenAddress
    }

    static func startCluster() async throws -> Cluster {
        let directory = try clusterDirectory()
        let security = ClusterSecurity.mutualTLS(try directory.material(for: "scheduler"))
        var configuration = SchedulerConfiguration()
        configuration.cacheManagerAddress = ListenAddress(host: "127.0.0.1", port: 1)
        configuration.grpcAddress = loopbackAnyPort
        configuration.httpAddress = loopbackAnyPort
        let settings = EnrollmentSettings(
            address: loopbackAnyPort, certificateDirectory: directory.path, security: security)
        configuration.enrollment = settings
        var application = try buildScheduler(configuration, logger: quietLogger)
        application.security = security
        let scheduler = try await application.start()
        let enrollment = try await settings.bound.value
        return Cluster(directory: directory, scheduler: scheduler, enrollment: enrollment)
    }

    static func token(_ cluster: Cluster, name: String? = nil, lifetime: TimeInterval = 3600)
        throws -> JoinToken
    {
        try JoinTokenStore(directory: cluster.directory).create(name: name, lifetime: lifetime)
    }

    /// A token buys one worker certificate for a key made on the joining machine; the
    /// certificate works on the scheduler's mutual-TLS port as a worker; the store holds only
    /// the secret's hash.
    @Test func tokenBuysAWorkerCertificate() async throws {
        let cluster = try await Self.startCluster()
        defer { Task { await cluster.scheduler.shutdown() } }
        let token = try Self.token(cluster)
        let workerDirectory = CertificateDirectory(path: Self.temporaryPath("tessera-edge"))

        let name = try await WorkerEnrollment.enroll(
            token: token, server: cluster.enrollment, directory: workerDirectory,
            requestedName: "edge-1")

        #expect(name == "edge-1")
        let certificate = try Certificate(
            pemEncoded: String(
                contentsOfFile: workerDirectory.certificatePath("edge-1"), encoding: .utf8))
        #expect(
            PeerIdentity(certificate: certificate) == PeerIdentity(role: .worker, name: "edge-1"))
        let keyMode =
            try FileManager.default.attributesOfItem(
                atPath: workerDirectory.keyPath("edge-1"))[.posixPermissions] as? Int
        #expect(keyMode == 0o600)
        #expect(!workerDirectory.hasAuthorityKey)

        let asEnrolled = ClusterSecurity.mutualTLS(try workerDirectory.material(for: "edge-1"))
        let registration = await rpcFailure {
            try await TLSTests.register(cluster.scheduler.addresses.grpc, as: asEnrolled)
        }
        #expect(registration?.code != .permissionDenied)
        #expect(registration?.code != .unavailable)

        let stored = try String(
            contentsOfFile: "\(cluster.directory.path)/\(JoinTokenStore.fileName)", encoding: .utf8)
        #expect(!stored.contains(token.secret))
        #expect(stored.contains(JoinToken.hash(secret: token.secret)))
        let record = try JoinTokenStore(directory: cluster.directory).records().first
        #expect(record?.usedBy == "edge-1")
    }

    /// A token is spent once: a second machine with the same token is PERMISSION_DENIED.
    @Test func reusedTokenIsRefused() async throws {
        let cluster = try await Self.startCluster()
        defer { Task { await cluster.scheduler.shutdown() } }
        let token = try Self.token(cluster)
        _ = try await WorkerEnrollment.enroll(
            token: token, server: cluster.enrollment,
            directory: CertificateDirectory(path: Self.temporaryPath("tessera-edge")),
            requestedName: "edge-1")

        let again = await rpcFailure {
            _ = try await WorkerEnrollment.enroll(
                token: token, server: cluster.enrollment,
                directory: CertificateDirectory(path: Self.temporaryPath("tessera-edge")),
                requestedName: "edge-2")
        }
        #expect(again?.code == .permissionDenied)
        #expect(again?.message.contains("already used (by 'edge-1')") == true)
    }

    /// An expired token, an unknown one and a wrong secret are PERMISSION_DENIED; none
    /// issues a certificate.
    @Test func expiredOrWrongTokenIsRefused() async throws {
        let cluster = try await Self.startCluster()
        defer { Task { await cluster.scheduler.shutdown() } }
        let store = JoinTokenStore(directory: cluster.directory)
        let expired = try store.create(
            name: nil, lifetime: 60, now: Date().addingTimeInterval(-120))
        let directory = CertificateDirectory(path: Self.temporaryPath("tessera-edge"))
        let late = await rpcFailure {
            _ = try await WorkerEnrollment.enroll(
                token: expired, server: cluster.enrollment, directory: directory,
                requestedName: "edge-1")
        }
        #expect(late?.code == .permissionDenied)
        #expect(late?.message.contains("has expired") == true)

        var guessed = try Self.token(cluster)
        guessed.secret = String(repeating: "A", count: 43)
        let wrong = await rpcFailure {
            _ = try await WorkerEnrollment.enroll(
                token: guessed, server: cluster.enrollment, directory: directory,
                requestedName: "edge-1")
        }
        #expect(wrong?.code == .permissionDenied)
        #expect(wrong?.message.contains("unknown or its secret is wrong") == true)
        #expect(!directory.hasCertificate("edge-1"))
    }

    /// A revoked name cannot come back with a new token until an operator removes it from
    /// the revocation list.
    @Test func revokedNameCannotReenroll() async throws {
        let cluster = try await Self.startCluster()
        defer { Task { await cluster.scheduler.shutdown() } }
        try RevocationList.revoke("edge-9", at: cluster.directory.revocationListPath)
        let token = try Self.token(cluster, name: "edge-9")
        let refused = await rpcFailure {
            _ = try await WorkerEnrollment.enroll(
                token: token, server: cluster.enrollment,
                directory: CertificateDirectory(path: Self.temporaryPath("tessera-edge")),
                requestedName: "")
        }
        #expect(refused?.code == .permissionDenied)
        #expect(refused?.message.contains("'edge-9' is revoked") == true)

        try "".write(
            toFile: cluster.directory.revocationListPath, atomically: true, encoding: .utf8)
        let name = try await WorkerEnrollment.enroll(
            token: token, server: cluster.enrollment,
            directory: CertificateDirectory(path: Self.temporaryPath("tessera-edge")),
            requestedName: "ignored-the-token-names-it")
        #expect(name == "edge-9")
    }

    /// A name already given to another machine is not given again (ALREADY_EXISTS), and the
    /// token stays usable for another name.
    @Test func takenNameIsRefused() async throws {
        let cluster = try await Self.startCluster()
        defer { Task { await cluster.scheduler.shutdown() } }
        let token = try Self.token(cluster)
        let taken = await rpcFailure {
            _ = try await WorkerEnrollment.enroll(
                token: token, server: cluster.enrollment,
                directory: CertificateDirectory(path: Self.temporaryPath("tessera-edge")),
                requestedName: "scheduler")
        }
        #expect(taken?.code == .alreadyExists)
        let name = try await WorkerEnrollment.enroll(
            token: token, server: cluster.enrollment,
            directory: CertificateDirectory(path: Self.temporaryPath("tessera-edge")),
            requestedName: "edge-3")
        #expect(name == "edge-3")
    }

    /// A server whose CA is not the one the token pins is not sent the secret: the worker
    /// stops with the mismatch, and the token stays unspent.
    @Test func impostorServerGetsNoSecret() async throws {
        let cluster = try await Self.startCluster()
        defer { Task { await cluster.scheduler.shutdown() } }
        var token = try Self.token(cluster)
        let real = token.authorityFingerprint
        token.authorityFingerprint = String(repeating: "0", count: 64)
        await #expect(
            throws: EnrollmentError.authorityMismatch(
                expected: token.authorityFingerprint, got: real)
        ) {
            _ = try await WorkerEnrollment.enroll(
                token: token, server: cluster.enrollment,
                directory: CertificateDirectory(path: Self.temporaryPath("tessera-edge")),
                requestedName: "edge-1")
        }
        let records = try JoinTokenStore(directory: cluster.directory).records()
        #expect(records.first?.usedBy == nil)
    }

    /// A restarted worker (same flags, token spent) starts with the certificate it got, even
    /// while the enrollment server is unreachable.
    @Test func restartedWorkerKeepsItsCertificate() async throws {
        let cluster = try await Self.startCluster()
        let token = try Self.token(cluster)
        let directory = CertificateDirectory(path: Self.temporaryPath("tessera-edge"))
        let first = try await WorkerEnrollment.enroll(
            token: token, server: cluster.enrollment, directory: directory, requestedName: "edge-1")
        await cluster.scheduler.shutdown()
        let second = try await WorkerEnrollment.enroll(
            token: token, server: cluster.enrollment, directory: directory, requestedName: "edge-1")
        #expect(first == second)
    }

    /// The enrollment port serves enrollment only: the scheduler's own RPCs are not there.
    @Test func enrollmentPortServesNothingElse() async throws {
        let cluster = try await Self.startCluster()
        defer { Task { await cluster.scheduler.shutdown() } }
        let material = try cluster.directory.material(for: "scheduler")
        let onEnrollmentPort = await rpcFailure {
            try await TLSTests.register(cluster.enrollment, as: .mutualTLS(material))
        }
        #expect(onEnrollmentPort?.code == .unimplemented)
    }

    /// Tokens as pasted: a malformed one is refused with what a token looks like.
    @Test func tokenText() throws {
        let token = JoinToken.generate(authorityFingerprint: String(repeating: "ab", count: 32))
        #expect(try JoinToken(parsing: " \(token)\n") == token)
        #expect(throws: EnrollmentError.malformedToken) { try JoinToken(parsing: "tsj.1.2.3") }
        #expect(throws: EnrollmentError.malformedToken) {
            try JoinToken(parsing: "\(token)".replacingOccurrences(of: "tsj.", with: "tsk."))
        }
    }
}
