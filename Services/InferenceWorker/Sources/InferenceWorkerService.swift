import GRPCCore
import ServiceKit
import TesseraProto

/// The worker's gRPC API: shard hosting (`LoadShard`, `UnloadShard`, `PrefetchShard`),
/// `GetStatus`, the pipelined `Forward` stream and, at a last stage, the `Answers` stream
/// of direct steps (docs/generation-protocol.md).
struct InferenceWorkerService: Tessera_V1_InferenceWorker.ServiceProtocol, DescribedService {
    let state: WorkerState
    let host: ShardHost
    let stream: ForwardStream
    /// Where shards may come from (`WorkerConfiguration.cacheManagerAddresses`); empty: anywhere.
    let allowedCacheManagers: [ListenAddress]

    var healthName: String { "tessera.v1.InferenceWorker" }

    func loadShard(
        request: ServerRequest<Tessera_V1_LoadShardRequest>, context: ServerContext
    ) async throws -> ServerResponse<Tessera_V1_LoadShardResponse> {
        let message = request.message
        let (shard, cacheManager) = try source(
            message.hasShard, message.shard, message.cacheManagerAddress)
        let clock = ContinuousClock()
        let started = clock.now
        let result = try await host.load(
            shard, cacheManager: cacheManager,
            contextLength: message.contextLength > 0 ? Int(message.contextLength) : nil)
        let seconds = (clock.now - started).inSeconds
        WorkerMetrics.shardLoad(seconds: seconds, downloaded: result.downloaded)
        return ServerResponse(
            message: .with {
                $0.downloaded = result.downloaded
                $0.seconds = seconds
                // With the shard loaded, before the scheduler routes to it.
                $0.sessionSlots = UInt32(clamping: state.slots.limit)
            })
    }

    func prefetchShard(
        request: ServerRequest<Tessera_V1_PrefetchShardRequest>, context: ServerContext
    ) async throws -> ServerResponse<Tessera_V1_PrefetchShardResponse> {
        let message = request.message
        let (shard, cacheManager) = try source(
            message.hasShard, message.shard, message.cacheManagerAddress)
        let clock = ContinuousClock()
        let started = clock.now
        let downloaded = try await host.prefetch(shard, cacheManager: cacheManager)
        return ServerResponse(
            message: .with {
                $0.downloaded = downloaded
                $0.seconds = (clock.now - started).inSeconds
            })
    }

    /// The shard a LoadShard or PrefetchShard names, and where it may be fetched from.
    private func source(_ hasShard: Bool, _ shard: Tessera_V1_ShardRef, _ address: String) throws
        -> (ShardReference, ListenAddress?)
    {
        guard hasShard, !shard.sha256.isEmpty else {
            throw InvalidMessage("shard.sha256", "is missing")
        }
        return (shard.domain, try cacheManager(named: address))
    }

    /// Where a shard may be fetched from: the request's address when this worker allows it,
    /// else its first --cache-manager (nil: neither said).
    private func cacheManager(named text: String) throws -> ListenAddress? {
        var cacheManager: ListenAddress?
        if !text.isEmpty {
            guard let address = ListenAddress(peer: text) else {
                throw InvalidMessage("cache_manager_address", "'\(text)' is not host:port")
            }
            cacheManager = address
        }
        if !allowedCacheManagers.isEmpty {
            if let cacheManager, !allowedCacheManagers.contains(cacheManager) {
                throw RPCError(
                    code: .permissionDenied,
                    message:
                        "cache_manager_address \(cacheManager) is not one this worker fetches from ("
                        + allowedCacheManagers.map(\.description).joined(separator: ", ")
                        + "; its --cache-manager)")
            }
            cacheManager = cacheManager ?? allowedCacheManagers[0]
        }
        return cacheManager
    }

    func unloadShard(
        request: ServerRequest<Tessera_V1_UnloadShardRequest>, context: ServerContext
    ) async throws -> ServerResponse<Tessera_V1_UnloadShardResponse> {
        try await host.unload(request.message.shardSha256)
        return ServerResponse(message: .init())
    }

    func getStatus(
        request: ServerRequest<Tessera_V1_GetStatusRequest>, context: ServerContext
    ) async throws -> ServerResponse<Tessera_V1_GetStatusResponse> {
        let cache = await host.cacheReport()
        return ServerResponse(
            message: .with {
                $0.workerID = state.workerID
                $0.capabilities = Tessera_V1_WorkerCapabilities(state.capabilities)
                $0.load = Tessera_V1_WorkerLoad(state.load())
                $0.readyShards = state.wireReadyShards
                $0.cache = Tessera_V1_ShardCacheReport(cache)
            })
    }

    func forward(
        request: StreamingServerRequest<Tessera_V1_ForwardRequest>, context: ServerContext
    ) async throws -> StreamingServerResponse<Tessera_V1_ForwardResponse> {
        let requestID = request.metadata[stringValues: RequestID.header].first { _ in true }
        return StreamingServerResponse { writer in
            try await stream.serve(request.messages, writer, requestID: requestID)
            return [:]
        }
    }

    /// The last stage's answers to the session's direct steps, as they come, until the
    /// session ends here (OK) or the caller goes.
    func answers(
        request: ServerRequest<Tessera_V1_AnswersRequest>, context: ServerContext
    ) async throws -> StreamingServerResponse<Tessera_V1_ForwardResponse> {
        let session = request.message.sessionID
        guard !session.isEmpty else { throw InvalidMessage("session_id", "is missing") }
        let board = stream.environment.answers
        guard let answers = board.collect(session) else {
            throw RPCError(
                code: .alreadyExists,
                message: "another Answers call already collects session \(session)'s answers")
        }
        return StreamingServerResponse { writer in
            defer { board.release(session) }
            for await answer in answers {
                try await writer.write(Tessera_V1_ForwardResponse(answer, measuringLastStage: true))
            }
            return [:]
        }
    }
}
