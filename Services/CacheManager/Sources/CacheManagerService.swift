import GRPCCore
import ServiceKit
import TesseraProto

/// The model store's gRPC API: checks requests, then asks the `ModelLibrary`, which opens
/// once the service starts (until then requests are UNAVAILABLE).
struct CacheManagerService: Tessera_V1_CacheManager.ServiceProtocol, DescribedService {
    var healthName: String { "tessera.v1.CacheManager" }
    let library: OneShot<ModelLibrary>
    let confinement: ImportConfinement?

    func openLibrary() throws -> ModelLibrary {
        guard let library = library.current else {
            throw RPCError(
                code: .unavailable,
                message: "the cache-manager is still opening its catalog; retry shortly")
        }
        return library
    }

    func importModel(
        request: ServerRequest<Tessera_V1_ImportModelRequest>, context: ServerContext
    ) async throws -> ServerResponse<Tessera_V1_ImportModelResponse> {
        let library = try openLibrary()
        let message = request.message
        let result: (model: ModelRow, alreadyPresent: Bool)
        switch message.source {
        case .path(let path)?:
            // Checked before anything reads the file.
            let allowed = try confinement.map { try $0.check(path) } ?? path
            result = try await library.importModel(path: allowed, displayName: message.displayName)
        case .name(let name)? where !name.isEmpty:
            result = try await library.importKnownModel(
                name: name, displayName: message.displayName)
        default: throw RPCError.invalidArgument("ImportModel: give a path or a name")
        }
        let shards = try await library.catalog.shards(ofModel: result.model.sha256)
        return ServerResponse(
            message: .with {
                $0.model = result.model.manifest(shards: shards)
                $0.alreadyPresent = result.alreadyPresent
            })
    }

    func listModels(
        request: ServerRequest<Tessera_V1_ListModelsRequest>, context: ServerContext
    ) async throws -> ServerResponse<Tessera_V1_ListModelsResponse> {
        let library = try openLibrary()
        var manifests: [Tessera_V1_ModelManifest] = []
        let marks = try await library.catalog.servingMarks()
        let budgets = try await library.catalog.qualityBudgets()
        for model in try await library.catalog.models() {
            var manifest = model.manifest(
                shards: try await library.catalog.shards(ofModel: model.sha256))
            if let row = marks[model.sha256] { manifest.serving = row.message }
            if let budget = budgets[model.sha256] {
                manifest.qualityBudget = Tessera_V1_QualityBudget(budget.setting)
            }
            manifests.append(manifest)
        }
        return ServerResponse(message: .with { $0.models = manifests })
    }

    func getModel(
        request: ServerRequest<Tessera_V1_GetModelRequest>, context: ServerContext
    ) async throws -> ServerResponse<Tessera_V1_ModelManifest> {
        let library = try openLibrary()
        let model = try await library.resolve(request.message.model)
        let shards = try await library.catalog.shards(ofModel: model.sha256)
        var manifest = model.manifest(shards: shards)
        if let row = try await library.catalog.servingMarks(ofModel: model.sha256) {
            manifest.serving = row.message
        }
        if let budget = try await library.catalog.qualityBudget(ofModel: model.sha256) {
            manifest.qualityBudget = Tessera_V1_QualityBudget(budget.setting)
        }
        return ServerResponse(message: manifest)
    }

    func getShard(
        request: ServerRequest<Tessera_V1_GetShardRequest>, context: ServerContext
    ) async throws -> ServerResponse<Tessera_V1_ShardManifest> {
        let library = try openLibrary()
        let model = try await library.resolve(request.message.model)
        let layers = try Self.layerRange(
            request.message.layers, layerCount: model.profile.layerCount)
        let shard = try await library.shard(of: model, layers: layers)
        return ServerResponse(
            message: .with {
                $0.shard = Tessera_V1_ShardRef(shard.reference(model: model.reference))
                $0.chunkSize = UInt32(ShardStreaming.chunkSize)
            })
    }

    func downloadShard(
        request: ServerRequest<Tessera_V1_DownloadShardRequest>, context: ServerContext
    ) async throws -> StreamingServerResponse<Tessera_V1_ShardChunk> {
        let library = try openLibrary()
        let message = request.message
        let (shard, path) = try await library.shardFile(sha256: message.shardSha256)
        try ShardStreaming.validate(
            offset: message.offset, size: shard.sizeBytes, sha256: shard.sha256)
        return StreamingServerResponse { writer in
            try await ShardStreaming.stream(
                path: path, offset: message.offset, size: shard.sizeBytes, to: writer)
            return [:]
        }
    }

    /// `[first, last)` within the model; `[0, 0)` (or no range) is the vocabulary shard.
    static func layerRange(_ range: Tessera_V1_LayerRange, layerCount: Int) throws -> Range<Int> {
        let first = Int(range.first)
        let last = Int(range.last)
        guard first <= last else {
            throw RPCError.invalidArgument("GetShard: layers [\(first), \(last)) has first > last")
        }
        guard last <= layerCount else {
            throw RPCError.invalidArgument(
                "GetShard: layers [\(first), \(last)) go past the model's \(layerCount) layers")
        }
        guard first < last || first == 0 else {
            throw RPCError.invalidArgument(
                "GetShard: layers [\(first), \(last)) is empty; only [0, 0) (the vocabulary shard) may be"
            )
        }
        return first..<last
    }
}
