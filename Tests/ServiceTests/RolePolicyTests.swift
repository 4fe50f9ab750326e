import Foundation
import GRPCCore
import InferenceWorker
import ServiceKit
import TesseraProto
import Testing

/// The role table (`RolePolicy`) and its interceptor, on an in-process transport where the
/// caller's role is injected instead of read from a certificate.
@Suite struct RolePolicyTests {
    /// Every RPC any Tessera service serves is in the table: a new RPC must be given its roles
    /// (else it is refused to everyone, which this test reports first).
    @Test func everyRPCHasRoles() {
        let methods =
            Tessera_V1_Scheduler.Method.descriptors + Tessera_V1_CacheManager.Method.descriptors
            + Tessera_V1_InferenceWorker.Method.descriptors + Tessera_V1_Gateway.Method.descriptors
            + Tessera_V1_Verifier.Method.descriptors + Grpc_Health_V1_Health.Method.descriptors
        for method in methods {
            #expect(
                !RolePolicy.allowedRoles(method.fullyQualifiedMethod).isEmpty,
                "\(method.fullyQualifiedMethod) has no roles")
        }
    }

    /// The issue's rules: only the scheduler places shards; only gateways and workers open
    /// Forward streams; only workers register and heartbeat; only gateways submit commitments.
    @Test func issueRules() {
        let loadShard = "tessera.v1.InferenceWorker/LoadShard"
        #expect(RolePolicy.allowedRoles(loadShard) == [.scheduler])
        #expect(RolePolicy.allowedRoles("tessera.v1.InferenceWorker/UnloadShard") == [.scheduler])
        #expect(
            RolePolicy.allowedRoles("tessera.v1.InferenceWorker/Forward") == [.gateway, .worker])
        #expect(RolePolicy.allowedRoles("tessera.v1.Scheduler/RegisterWorker") == [.worker])
        #expect(RolePolicy.allowedRoles("tessera.v1.Scheduler/Heartbeat") == [.worker])
        #expect(RolePolicy.allowedRoles("tessera.v1.Verifier/SubmitReceipts") == [.gateway])
        #expect(!RolePolicy.allowedRoles("tessera.v1.CacheManager/DownloadShard").contains(.client))
        #expect(RolePolicy.allowedRoles("tessera.v1.CacheManager/ImportModel") == [.operator])
        let refusal = RolePolicy.refusal(
            of: PeerIdentity(role: .gateway, name: "gw"), calling: loadShard)
        #expect(
            refusal
                == "role 'gateway' (gw) may not call tessera.v1.InferenceWorker/LoadShard; allowed: scheduler"
        )
        #expect(
            RolePolicy.refusal(of: PeerIdentity(role: .scheduler, name: "s"), calling: loadShard)
                == nil)
        #expect(
            RolePolicy.refusal(of: nil, calling: loadShard)?.contains("needs a certificate") == true
        )
        #expect(
            RolePolicy.refusal(of: PeerIdentity(role: .operator, name: "o"), calling: "x.Y/Z")
                == "no role may call x.Y/Z")
    }

    /// A worker refuses LoadShard and UnloadShard from a gateway with PERMISSION_DENIED naming
    /// the role and the RPC, before the handler runs; the scheduler gets past the check (to
    /// the handler's own answer about the unknown shard).
    @Test func workerChecksRolesPerRPC() async throws {
        var configuration = WorkerConfiguration()
        configuration.grpcAddress = loopbackAnyPort
        configuration.schedulerAddress = ListenAddress(host: "127.0.0.1", port: try freePort())
        configuration.memoryBudgetBytes = 1 << 30
        configuration.threads = 1
        configuration.workerID = "role-test"
        configuration.shardDirectory =
            FileManager.default.temporaryDirectory
            .appendingPathComponent("tessera-role-\(UUID().uuidString.prefix(8))").path
        var application = try buildInferenceWorker(configuration, logger: quietLogger)
        application.peerIdentity = { _, metadata in
            // Tests only: the role rides in metadata here; production reads the certificate.
            let role = metadata[stringValues: "test-role"].first(where: { _ in true })
            return role.flatMap(ServiceRole.init(rawValue:)).map {
                PeerIdentity(role: $0, name: "injected")
            }
        }
        try await application.withInProcessServer { client in
            let worker = Tessera_V1_InferenceWorker.Client(wrapping: client)
            let load = Tessera_V1_LoadShardRequest.with {
                $0.shard.sha256 = String(repeating: "a", count: 64)
            }
            let asGateway = await rpcFailure {
                _ = try await worker.loadShard(load, metadata: ["test-role": "gateway"])
            }
            #expect(asGateway?.code == .permissionDenied)
            #expect(asGateway?.message.contains("role 'gateway'") == true)
            #expect(asGateway?.message.contains("InferenceWorker/LoadShard") == true)
            let unload = await rpcFailure {
                _ = try await worker.unloadShard(.init(), metadata: ["test-role": "worker"])
            }
            #expect(unload?.code == .permissionDenied)
            let asScheduler = await rpcFailure {
                _ = try await worker.loadShard(load, metadata: ["test-role": "scheduler"])
            }
            #expect(asScheduler?.code != .permissionDenied)
        }
    }
}
