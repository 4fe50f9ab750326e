import Foundation
import GRPCCore
import Scheduler
import ServiceKit
import Testing

/// Clients check that a server's certificate names the address they dialled, not only that
/// the cluster CA signed it: a member listening at another member's address is refused.
/// 127.0.0.2 is loopback too, but no certificate names it unless told to.
@Suite struct ServerNameTests {
    static let otherLoopback = "127.0.0.2"

    static func startScheduler(certificate name: String, in directory: CertificateDirectory)
        async throws -> RunningService
    {
        var configuration = SchedulerConfiguration()
        configuration.cacheManagerAddress = ListenAddress(host: "127.0.0.1", port: 1)
        configuration.grpcAddress = ListenAddress(host: otherLoopback, port: 0)
        configuration.httpAddress = loopbackAnyPort
        var application = try buildScheduler(configuration, logger: quietLogger)
        application.security = .mutualTLS(try directory.material(for: name))
        return try await application.start()
    }

    @Test func certificateForAnotherAddressIsRefused() async throws {
        let directory = CertificateDirectory(
            path: FileManager.default.temporaryDirectory
                .appendingPathComponent("tessera-names-\(UUID().uuidString.prefix(8))").path)
        try directory.createAuthority()
        try directory.issue(role: .scheduler, name: "scheduler")  // names 127.0.0.1, not .2
        try directory.issue(
            role: .scheduler, name: "scheduler-2", extraNames: [Self.otherLoopback])
        try directory.issue(role: .worker, name: "worker-1")
        var worker = try directory.material(for: "worker-1")

        let wrongName = try await Self.startScheduler(certificate: "scheduler", in: directory)
        defer { Task { await wrongName.shutdown() } }
        let refused = await rpcFailure {
            try await TLSTests.register(wrongName.addresses.grpc, as: .mutualTLS(worker))
        }
        #expect(refused?.code == .unavailable)

        let rightName = try await Self.startScheduler(certificate: "scheduler-2", in: directory)
        defer { Task { await rightName.shutdown() } }
        let accepted = await rpcFailure {
            try await TLSTests.register(rightName.addresses.grpc, as: .mutualTLS(worker))
        }
        #expect(accepted?.code != .unavailable)
        #expect(accepted?.code != .permissionDenied)

        // What `--tls-skip-server-name-check` gives: the CA's signature alone.
        worker.checksServerNames = false
        let unchecked = await rpcFailure {
            try await TLSTests.register(wrongName.addresses.grpc, as: .mutualTLS(worker))
        }
        #expect(unchecked?.code != .unavailable)
    }
}
