import CacheManager
import Foundation
import GRPCCore
import GRPCInProcessTransport
import Logging
import ServiceKit
import TesseraProto

/// Starting a cache-manager in-process and talking to it with a plain client: on an
/// in-process transport (`serving`) where the test needs no socket, on 127.0.0.1 otherwise.
enum CacheManagerHarness {
    typealias API = Tessera_V1_CacheManager.Client<TesseraClientTransport>
    typealias InProcessAPI = Tessera_V1_CacheManager.Client<InProcessTransport.Client>

    /// Runs a cache-manager over `store` on an in-process transport and calls `body` with a
    /// client once it reports SERVING (the catalog is open, preloads done); then stops it.
    static func serving<Result: Sendable>(
        store: String, preload: [String] = [], recorder: LogRecorder = LogRecorder(),
        _ body: (InProcessAPI) async throws -> Result
    ) async throws -> Result {
        var configuration = CacheManagerConfiguration()
        configuration.storeDirectory = store
        configuration.preloadModels = preload
        let application = buildCacheManager(configuration, logger: recorder.logger)
        return try await application.withInProcessServer { client async throws in
            guard
                try await eventually(timeout: .seconds(60), { await HealthProbe.isServing(client) })
            else {
                throw NotServing()
            }
            return try await body(InProcessAPI(wrapping: client))
        }
    }

    /// A cache-manager on 127.0.0.1 (free ports) over `store`, logging into `recorder`.
    static func start(
        store: String, preload: [String] = [], port: Int = 0, recorder: LogRecorder = LogRecorder()
    ) async throws -> RunningService {
        var configuration = CacheManagerConfiguration()
        configuration.grpcAddress = ListenAddress(host: "127.0.0.1", port: port)
        configuration.httpAddress = ListenAddress(host: "127.0.0.1", port: 0)
        configuration.storeDirectory = store
        configuration.preloadModels = preload
        return try await buildCacheManager(configuration, logger: recorder.logger).start()
    }

    /// Starts and waits until it reports SERVING (the catalog is open, preloads done).
    static func startServing(
        store: String, preload: [String] = [], port: Int = 0, recorder: LogRecorder = LogRecorder()
    ) async throws -> RunningService {
        let service = try await start(
            store: store, preload: preload, port: port, recorder: recorder)
        let address = service.addresses.grpc
        guard try await eventually(timeout: .seconds(60), { await HealthProbe.isServing(address) })
        else {
            await service.shutdown()
            throw NotServing()
        }
        return service
    }

    struct NotServing: Error {}

    static func with<Result: Sendable>(
        _ service: RunningService, _ body: (API) async throws -> Result
    ) async throws -> Result {
        try await ServiceClient.with(service.addresses.grpc) { client in
            try await body(API(wrapping: client))
        }
    }

    /// Every chunk of `sha256` from `offset`, as received.
    static func download<Transport: ClientTransport>(
        _ api: Tessera_V1_CacheManager.Client<Transport>, sha256: String, offset: UInt64 = 0
    ) async throws -> [Tessera_V1_ShardChunk] {
        try await api.downloadShard(
            .with {
                $0.shardSha256 = sha256
                $0.offset = offset
            }, options: .timeout(.seconds(60))
        ) { response in
            var chunks: [Tessera_V1_ShardChunk] = []
            for try await chunk in response.messages { chunks.append(chunk) }
            return chunks
        }
    }

    static func range(_ first: Int, _ last: Int) -> Tessera_V1_LayerRange {
        .with {
            $0.first = UInt32(first)
            $0.last = UInt32(last)
        }
    }

}
