import GGUF
import GRPCCore
import Integrity
import Logging
import ServiceKit
import TesseraProto

/// Loads each model's vocabulary once from the cache-manager (GetShard for layers [0, 0),
/// then DownloadShard) and keeps it. Concurrent first requests share one download; a failed
/// load is forgotten so the next request tries again.
actor VocabularyStore {
    private let cacheManager: Tessera_V1_CacheManager.Client<TesseraClientTransport>
    private let logger: Logger
    /// By every key a request may use: "" (the default model), the name and the SHA-256.
    private var loaded: [String: ModelVocabulary] = [:]
    private var inFlight: [String: Task<ModelVocabulary, any Error>] = [:]

    init(cacheManager: Tessera_V1_CacheManager.Client<TesseraClientTransport>, logger: Logger) {
        self.cacheManager = cacheManager
        self.logger = logger
    }

    /// The vocabulary of `model` (name, SHA-256, or "" for the default model). Throws
    /// `GatewayError` (.modelNotFound, .unavailable, …).
    func vocabulary(for model: String) async throws -> ModelVocabulary {
        try Self.validate(name: model)
        if let vocabulary = loaded[model] { return vocabulary }
        let task: Task<ModelVocabulary, any Error>
        if let running = inFlight[model] {
            task = running
        } else {
            let cacheManager = self.cacheManager
            // Shared by every request for the model and awaited by each of them; it outlives
            // a caller that gives up, so the others still get the vocabulary.
            task = Task { try await Self.fetch(model: model, from: cacheManager) }
            inFlight[model] = task
        }
        do {
            var vocabulary = try await task.value
            inFlight[model] = nil
            // One copy per model, whatever it was asked by: the state stays bounded by the
            // catalog, not by the names clients send.
            if let known = loaded[vocabulary.model.sha256] { vocabulary = known }
            if loaded[vocabulary.model.sha256] == nil {
                logger.info(
                    "vocabulary loaded",
                    metadata: [
                        "model": "\(vocabulary.model.name)", "sha256": "\(vocabulary.model.sha256)",
                        "tokens": "\(vocabulary.tokenizer.vocabularySize)",
                        "context": "\(vocabulary.contextLength)",
                        "template": "\(vocabulary.chatTemplate.rawValue)",
                    ])
            }
            // Kept under the model's own name and hash (and "" for the default model) only.
            for key in [vocabulary.model.name, vocabulary.model.sha256] where !key.isEmpty {
                loaded[key] = vocabulary
            }
            if model.isEmpty { loaded[""] = vocabulary }
            return vocabulary
        } catch {
            inFlight[model] = nil
            throw Self.gatewayError(error, model: model)
        }
    }

    private static func fetch(
        model: String, from cacheManager: Tessera_V1_CacheManager.Client<TesseraClientTransport>
    ) async throws -> ModelVocabulary {
        let manifest = try await cacheManager.getShard(
            .with {
                $0.model = model
                $0.layers = .with {
                    $0.first = 0
                    $0.last = 0
                }
            }, options: .timeout(.seconds(60)))
        let shard = manifest.shard
        let bytes = try await cacheManager.downloadShard(
            .with { $0.shardSha256 = shard.sha256 }, options: .timeout(.seconds(120))
        ) { response in
            var bytes: [UInt8] = []
            bytes.reserveCapacity(Int(clamping: shard.sizeBytes))
            for try await chunk in response.messages {
                guard chunk.offset == UInt64(bytes.count) else {
                    throw GatewayError(
                        .internalError,
                        "vocabulary shard chunk at \(chunk.offset), expected \(bytes.count)")
                }
                bytes += chunk.data
            }
            return bytes
        }
        try verify(bytes, against: shard)
        let gguf = try GGUFFile(bytes: bytes)
        // The shard names the model it was cut from: a cheap check that we got the right file.
        if let origin = gguf.metadata["tessera.shard.model_sha256"]?.string,
            !shard.model.sha256.isEmpty,
            origin != shard.model.sha256
        {
            throw GatewayError(
                .internalError,
                "vocabulary shard belongs to model \(origin), not \(shard.model.sha256)")
        }
        return try ModelVocabulary(model: shard.model.domain, gguf: gguf)
    }

    /// Shards are content-addressed: bytes of the wrong size, or that do not hash to the
    /// shard's name, are not the shard (truncated or corrupted on the way).
    static func verify(_ bytes: [UInt8], against shard: Tessera_V1_ShardRef) throws {
        guard shard.sizeBytes == 0 || UInt64(bytes.count) == shard.sizeBytes else {
            throw GatewayError(
                .internalError,
                "vocabulary shard has \(bytes.count) bytes, manifest says \(shard.sizeBytes)")
        }
        let digest = FileDigest.sha256Hex(of: bytes)
        guard digest == shard.sha256 else {
            throw GatewayError(
                .internalError,
                "vocabulary shard \(shard.sha256) arrived with SHA-256 \(digest); refusing it")
        }
    }

    /// Most bytes a model name may have (names and 64-digit hashes are far shorter).
    static let maximumNameBytes = 256

    /// A model field is a name or a hash: printable text, not too long.
    static func validate(name: String) throws {
        guard name.utf8.count <= maximumNameBytes,
            name.unicodeScalars.allSatisfy({ $0.properties.generalCategory != .control })
        else {
            throw GatewayError.invalid(
                "model must be a model's name or SHA-256: printable text of at most "
                    + "\(maximumNameBytes) bytes", parameter: "model")
        }
    }

    private static func gatewayError(_ error: any Error, model: String) -> GatewayError {
        let shown = model.isEmpty ? "the default model" : "model \"\(model)\""
        switch error {
        case let error as GatewayError:
            return error
        case let error as RPCError:
            switch error.code {
            case .notFound:
                return GatewayError(.modelNotFound, "\(shown) does not exist", parameter: "model")
            case .invalidArgument:
                return GatewayError(
                    .modelNotFound, "\(shown) is not a valid model: \(error.message)",
                    parameter: "model")
            case .unavailable, .deadlineExceeded, .unimplemented, .resourceExhausted, .cancelled:
                return GatewayError(
                    .unavailable, "the cache-manager cannot provide \(shown) now: \(error.message)")
            default:
                return GatewayError(
                    .internalError, "loading the vocabulary of \(shown) failed: \(error.message)")
            }
        default:
            return GatewayError(
                .internalError, "loading the vocabulary of \(shown) failed: \(error)")
        }
    }
}
