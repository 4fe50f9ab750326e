import Foundation
import GRPCCore
import InferenceWorker
import Scheduler
import ServiceKit
import TesseraProto
import Testing
import X509

/// Mutual TLS on real sockets: certificates from `CertificateDirectory` (what `tessera certs`
/// writes), servers started with them, and the takeover of issue 11 replayed against them.
@Suite struct TLSTests {
    /// One cluster CA and a certificate per role, in a fresh temporary directory.
    static let certificates = Result { () throws -> CertificateDirectory in
        let directory = CertificateDirectory(
            path: FileManager.default.temporaryDirectory
                .appendingPathComponent("tessera-tls-\(UUID().uuidString.prefix(8))").path)
        try directory.createAuthority()
        for role in ServiceRole.allCases {
            try directory.issue(role: role, name: "test-\(role.rawValue)")
        }
        return directory
    }

    static func security(_ role: ServiceRole) throws -> ClusterSecurity {
        .mutualTLS(try certificates.get().material(for: "test-\(role.rawValue)"))
    }

    /// A certificate's subject carries its role and name; it verifies against the CA with
    /// openssl (an independent implementation) when openssl is installed.
    @Test func certificateNamesRoleAndVerifiesWithOpenSSL() throws {
        let directory = try Self.certificates.get()
        let pem = try String(
            contentsOfFile: directory.certificatePath("test-worker"), encoding: .utf8)
        let certificate = try Certificate(pemEncoded: pem)
        #expect(
            PeerIdentity(certificate: certificate)
                == PeerIdentity(role: .worker, name: "test-worker"))
        let keyAttributes = try FileManager.default.attributesOfItem(
            atPath: directory.keyPath("test-worker"))
        #expect((keyAttributes[.posixPermissions] as? Int) == 0o600)
        let openssl = "/usr/bin/openssl"
        guard FileManager.default.isExecutableFile(atPath: openssl) else { return }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: openssl)
        process.arguments = [
            "verify", "-CAfile", "\(directory.path)/ca.pem", "-purpose", "sslclient",
            directory.certificatePath("test-worker"),
        ]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
    }

    /// Runs `body` with a client of `address` using `security`, bounded in time.
    static func call<Result: Sendable>(
        _ address: ListenAddress, _ security: ClusterSecurity,
        _ body: @escaping @Sendable (TesseraGRPCClient) async throws -> Result
    ) async throws -> Result {
        let client = try ServiceClient.make(address, security: security)
        return try await withThrowingTaskGroup(of: Result?.self) { group in
            group.addTask {
                try? await client.runConnections()
                return nil
            }
            group.addTask {
                defer { client.beginGracefulShutdown() }
                return try await body(client)
            }
            while let next = try await group.next() {
                if let result = next {
                    group.cancelAll()
                    return result
                }
            }
            throw CancellationError()
        }
    }

    static func register(_ scheduler: ListenAddress, as security: ClusterSecurity) async throws {
        try await call(scheduler, security) { client in
            _ = try await Tessera_V1_Scheduler.Client(wrapping: client).registerWorker(
                .with {
                    $0.workerID = "fake"
                    $0.address = "127.0.0.1:1"
                    $0.capabilities.memoryBytes = 1 << 40
                    $0.capabilities.computeGflops = 1_000_000
                    $0.capabilities.cpuCount = 64
                }, options: .timeout(.seconds(30)))
        }
    }

    /// A fake worker cannot register with a scheduler that runs mutual TLS: not in plaintext,
    /// not with a certificate from another CA, not with a gateway's certificate; a worker
    /// certificate gets past the role check.
    @Test func fakeWorkerCannotRegister() async throws {
        var configuration = SchedulerConfiguration()
        configuration.cacheManagerAddress = ListenAddress(host: "127.0.0.1", port: 1)
        configuration.grpcAddress = loopbackAnyPort
        configuration.httpAddress = loopbackAnyPort
        var application = try buildScheduler(configuration, logger: quietLogger)
        application.security = try Self.security(.scheduler)
        let scheduler = try await application.start()
        defer { Task { await scheduler.shutdown() } }
        let address = scheduler.addresses.grpc

        let plaintext = await rpcFailure { try await Self.register(address, as: .insecure) }
        #expect(plaintext?.code == .unavailable)

        let foreign = CertificateDirectory(
            path: FileManager.default.temporaryDirectory
                .appendingPathComponent("tessera-foreign-\(UUID().uuidString.prefix(8))").path)
        try foreign.createAuthority()
        try foreign.issue(role: .worker, name: "intruder")
        let foreignMaterial = try foreign.material(for: "intruder")
        let untrusted = await rpcFailure {
            try await Self.register(address, as: .mutualTLS(foreignMaterial))
        }
        #expect(untrusted?.code == .unavailable)

        let asGateway = await rpcFailure {
            try await Self.register(address, as: try Self.security(.gateway))
        }
        #expect(asGateway?.code == .permissionDenied)
        #expect(asGateway?.message.contains("Scheduler/RegisterWorker") == true)

        let asWorker = await rpcFailure {
            try await Self.register(address, as: try Self.security(.worker))
        }
        #expect(asWorker?.code != .permissionDenied)
        #expect(asWorker?.code != .unavailable)
    }

    /// A revoked worker certificate is refused on every RPC, at once, with no restart.
    @Test func revokedCertificateIsRefused() async throws {
        let directory = CertificateDirectory(
            path: FileManager.default.temporaryDirectory
                .appendingPathComponent("tessera-revoke-\(UUID().uuidString.prefix(8))").path)
        try directory.createAuthority()
        try directory.issue(role: .scheduler, name: "scheduler")
        try directory.issue(role: .worker, name: "worker-9")
        var configuration = SchedulerConfiguration()
        configuration.cacheManagerAddress = ListenAddress(host: "127.0.0.1", port: 1)
        configuration.grpcAddress = loopbackAnyPort
        configuration.httpAddress = loopbackAnyPort
        var application = try buildScheduler(configuration, logger: quietLogger)
        application.security = .mutualTLS(try directory.material(for: "scheduler"))
        let scheduler = try await application.start()
        defer { Task { await scheduler.shutdown() } }
        let worker = ClusterSecurity.mutualTLS(try directory.material(for: "worker-9"))

        let before = await rpcFailure {
            try await Self.register(scheduler.addresses.grpc, as: worker)
        }
        #expect(before?.code != .permissionDenied)
        try RevocationList.revoke("worker-9", at: directory.revocationListPath)
        let after = await rpcFailure {
            try await Self.register(scheduler.addresses.grpc, as: worker)
        }
        #expect(after?.code == .permissionDenied)
        #expect(after?.message == "the certificate 'worker-9' (worker) is revoked")
    }

    /// A client that speaks TLS but presents no certificate fails the handshake.
    @Test func clientWithoutCertificateFailsHandshake() async throws {
        let scheduler = try await Self.startScheduler()
        defer { Task { await scheduler.shutdown() } }
        let material = try Self.certificates.get().material(for: "test-worker")
        let noCertificate = TLSMaterial(
            authorityPEM: material.authorityPEM, certificatePEM: "", keyPEM: "")
        let failure = await rpcFailure {
            try await Self.register(scheduler.addresses.grpc, as: .mutualTLS(noCertificate))
        }
        #expect(failure != nil)
        #expect(failure?.code != .permissionDenied)
    }

    /// With a gateway's certificate, a worker's LoadShard and UnloadShard are PERMISSION_DENIED
    /// naming the role and the RPC; the scheduler's certificate is let through.
    @Test func gatewayCertificateCannotLoadShards() async throws {
        var configuration = WorkerConfiguration()
        configuration.grpcAddress = loopbackAnyPort
        configuration.httpAddress = loopbackAnyPort
        configuration.schedulerAddress = ListenAddress(host: "127.0.0.1", port: try freePort())
        configuration.memoryBudgetBytes = 1 << 30
        configuration.threads = 1
        configuration.workerID = "tls-worker"
        configuration.shardDirectory =
            FileManager.default.temporaryDirectory
            .appendingPathComponent("tessera-tls-worker-\(UUID().uuidString.prefix(8))").path
        var application = try buildInferenceWorker(configuration, logger: quietLogger)
        application.security = try Self.security(.worker)
        let worker = try await application.start()
        defer { Task { await worker.shutdown() } }
        let address = worker.addresses.grpc
        let load = Tessera_V1_LoadShardRequest.with {
            $0.shard.sha256 = String(repeating: "a", count: 64)
        }

        let asGateway = await rpcFailure {
            try await Self.call(address, try Self.security(.gateway)) { client in
                _ = try await Tessera_V1_InferenceWorker.Client(wrapping: client).loadShard(
                    load, options: .timeout(.seconds(30)))
            }
        }
        #expect(asGateway?.code == .permissionDenied)
        #expect(
            asGateway?.message
                == "role 'gateway' (test-gateway) may not call tessera.v1.InferenceWorker/LoadShard; allowed: scheduler"
        )
        let unload = await rpcFailure {
            try await Self.call(address, try Self.security(.worker)) { client in
                _ = try await Tessera_V1_InferenceWorker.Client(wrapping: client).unloadShard(
                    .init(), options: .timeout(.seconds(30)))
            }
        }
        #expect(unload?.code == .permissionDenied)
        let asScheduler = await rpcFailure {
            try await Self.call(address, try Self.security(.scheduler)) { client in
                _ = try await Tessera_V1_InferenceWorker.Client(wrapping: client).loadShard(
                    load, options: .timeout(.seconds(30)))
            }
        }
        #expect(asScheduler?.code != .permissionDenied)
        #expect(asScheduler?.code != .unavailable)
        // Health stays open to any cluster certificate.
        let health = await rpcFailure {
            try await Self.call(address, try Self.security(.operator)) { client in
                _ = try await Grpc_Health_V1_Health.Client(wrapping: client).check(
                    .init(), options: .timeout(.seconds(30)))
            }
        }
        #expect(health == nil)
    }

    static func startScheduler() async throws -> RunningService {
        var configuration = SchedulerConfiguration()
        configuration.cacheManagerAddress = ListenAddress(host: "127.0.0.1", port: 1)
        configuration.grpcAddress = loopbackAnyPort
        configuration.httpAddress = loopbackAnyPort
        var application = try buildScheduler(configuration, logger: quietLogger)
        application.security = try security(.scheduler)
        return try await application.start()
    }
}
