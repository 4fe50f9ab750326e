import Foundation
import GRPCCore
import Scheduler
import ServiceKit
import TesseraProto
import Testing

/// Clients check the *role* of the server they call, not only its CA and name: a member
/// whose certificate names the scheduler's address but is a worker's cannot answer as the
/// scheduler. Real TLS sockets; the certificates `TLSTests` makes.
@Suite struct ServerRoleCheckTests {
    /// A scheduler (it serves tessera.v1.Scheduler and grpc.health.v1.Health) at `host`,
    /// presenting whatever certificate `security` holds.
    static func startServer(on host: String, as security: ClusterSecurity) async throws
        -> RunningService
    {
        var configuration = SchedulerConfiguration()
        configuration.cacheManagerAddress = ListenAddress(host: "127.0.0.1", port: 1)
        configuration.grpcAddress = ListenAddress(host: host, port: 0)
        configuration.httpAddress = loopbackAnyPort
        var application = try buildScheduler(configuration, logger: quietLogger)
        application.security = security
        return try await application.start()
    }

    static func listWorkers(_ address: ListenAddress, as security: ClusterSecurity) async throws {
        try await TLSTests.call(address, security) { client in
            _ = try await Tessera_V1_Scheduler.Client(wrapping: client).listWorkers(
                Tessera_V1_ListWorkersRequest(), options: .timeout(.seconds(30)))
        }
    }

    static func checkHealth(_ address: ListenAddress, as security: ClusterSecurity) async throws {
        try await TLSTests.call(address, security) { client in
            _ = try await Grpc_Health_V1_Health.Client(wrapping: client).check(
                Grpc_Health_V1_HealthCheckRequest(), options: .timeout(.seconds(30)))
        }
    }

    @Test func workerCertificateOnTheSchedulersAddressIsRefused() async throws {
        let impostor = try await Self.startServer(
            on: "127.0.0.1", as: try TLSTests.security(.worker))
        defer { Task { await impostor.shutdown() } }
        let gateway = try TLSTests.security(.gateway)

        let refused = await rpcFailure {
            try await Self.listWorkers(impostor.addresses.grpc, as: gateway)
        }
        #expect(refused?.code == .unavailable)
        let message = refused?.message ?? ""
        #expect(message.contains("needs a scheduler server"), "\(message)")
        #expect(message.contains("'test-worker' of role worker"), "\(message)")
        // Health is every member's: any cluster certificate answers it.
        #expect(
            await rpcFailure { try await Self.checkHealth(impostor.addresses.grpc, as: gateway) }
                == nil)

        let real = try await Self.startServer(
            on: "127.0.0.1", as: try TLSTests.security(.scheduler))
        defer { Task { await real.shutdown() } }
        let accepted = await rpcFailure {
            try await Self.listWorkers(real.addresses.grpc, as: gateway)
        }
        #expect(accepted == nil, "\(String(describing: accepted))")
    }

    /// Every service some role may call has a role that serves it (else clients refuse it).
    @Test func everyServiceHasAServerRole() {
        let methods =
            Tessera_V1_Scheduler.Method.descriptors + Tessera_V1_CacheManager.Method.descriptors
            + Tessera_V1_InferenceWorker.Method.descriptors + Tessera_V1_Gateway.Method.descriptors
            + Tessera_V1_Verifier.Method.descriptors + Tessera_V1_Enrollment.Method.descriptors
            + Grpc_Health_V1_Health.Method.descriptors
        for method in methods {
            let service = method.service.fullyQualifiedService
            #expect(ServerRoles.expectation(for: service) != .unknownService, "\(service)")
        }
        #expect(ServerRoles.expectation(for: "tessera.v1.Enrollment") == .role(.scheduler))
        #expect(ServerRoles.expectation(for: "other.v1.Thing") == .unknownService)
    }
}
