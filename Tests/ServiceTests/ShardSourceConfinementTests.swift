import Foundation
import GRPCCore
import InferenceWorker
import ServiceKit
import TesseraProto
import Testing

/// A worker fetches shards only from the cache-manager(s) it was configured with, never from
/// an address a LoadShard names (issue 11: the worker dialled whatever address it was given).
@Suite(.timeLimit(.minutes(3))) struct ShardSourceConfinementTests {
    @Test func loadShardNamingAnotherCacheManagerIsRefused() async throws {
        let configured = ListenAddress(host: "127.0.0.1", port: try freePort())
        var configuration = WorkerConfiguration()
        configuration.grpcAddress = loopbackAnyPort
        configuration.schedulerAddress = ListenAddress(host: "127.0.0.1", port: try freePort())
        configuration.memoryBudgetBytes = 1 << 30
        configuration.threads = 1
        configuration.workerID = "confined"
        configuration.cacheManagerAddresses = [configured]
        configuration.shardDirectory =
            FileManager.default.temporaryDirectory
            .appendingPathComponent("tessera-confined-\(UUID().uuidString.prefix(8))").path
        let application = try buildInferenceWorker(configuration, logger: quietLogger)
        try await application.withInProcessServer { client async throws in
            let worker = Tessera_V1_InferenceWorker.Client(wrapping: client)
            func load(from address: String) async -> (code: RPCError.Code, message: String)? {
                await rpcFailure {
                    _ = try await worker.loadShard(
                        .with {
                            $0.shard.sha256 = String(repeating: "b", count: 64)
                            $0.cacheManagerAddress = address
                        }, options: .timeout(.seconds(20)))
                }
            }
            let elsewhere = await load(from: "10.66.0.1:7402")
            #expect(elsewhere?.code == .permissionDenied)
            #expect(
                elsewhere?.message
                    == "cache_manager_address 10.66.0.1:7402 is not one this worker fetches from (\(configured); its --cache-manager)"
            )
            // The configured one (nothing listens there): the worker tries it, and fails for
            // that reason, not for the address.
            let own = await load(from: configured.description)
            #expect(own != nil && own?.code != .permissionDenied)
            let unnamed = await load(from: "")
            #expect(unnamed != nil && unnamed?.code != .permissionDenied)
        }
    }
}
