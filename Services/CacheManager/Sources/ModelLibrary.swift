import Foundation
import GGUF
import Integrity
import Logging
import ModelStore
import ServiceKit

/// The store's logic: importing models into the catalog, resolving names, and cutting
/// shards once. It throws `ModelLibraryError`s (see `ModelLibraryError+GRPC.swift` for the
/// status each gets).
actor ModelLibrary {
    nonisolated let storeDirectory: String
    nonisolated let shardDirectory: String
    let catalog: Catalog
    let logger: Logger
    /// Model files mapped so far, by SHA-256, with the file identity they were opened with.
    private var openModels: [String: (file: GGUFFile, size: Int, modified: Double)] = [:]
    /// Shard requests being served, by model and range: concurrent requests share one cut.
    /// The library owns these tasks rather than the requests: a cut must finish (and be
    /// recorded) even if the request that started it gives up, since the others wait on it.
    private var shardRequests: [ShardKey: Task<ShardRow, any Error>] = [:]
    /// Variants being made, by name (see `ModelLibrary+Variants.swift`), owned likewise.
    var variantRequests: [String: Task<VariantOutcome, any Error>] = [:]

    private struct ShardKey: Hashable {
        let model: String
        let first: Int
        let last: Int
    }

    /// Opens (or creates) the store and its catalog, and clears temporary files that an
    /// interrupted cut may have left behind.
    init(storeDirectory: String, logger: Logger) throws {
        self.storeDirectory = storeDirectory
        shardDirectory = storeDirectory + "/shards"
        self.logger = logger
        let files = FileManager.default
        try files.createDirectory(atPath: shardDirectory, withIntermediateDirectories: true)
        catalog = try Catalog(path: storeDirectory + "/catalog.sqlite")
        try Self.prepareVariantDirectory(storeDirectory + "/models")
        for name in (try? files.contentsOfDirectory(atPath: shardDirectory)) ?? []
        where name.hasPrefix(".") {
            try? files.removeItem(atPath: shardDirectory + "/" + name)
        }
    }

    nonisolated func shardPath(_ sha256: String) -> String { "\(shardDirectory)/\(sha256).gguf" }

    // MARK: Importing

    /// Records the model at `path` (hashing it; nothing is copied). The same bytes imported
    /// again answer `alreadyPresent`.
    func importModel(path rawPath: String, displayName: String) async throws -> (
        model: ModelRow, alreadyPresent: Bool
    ) {
        guard !rawPath.isEmpty else { throw ModelLibraryError.emptyImportPath }
        let path = URL(fileURLWithPath: rawPath).standardizedFileURL.path
        let started = ContinuousClock.now
        let (file, row) = try await BlockingWork.run {
            try Self.inspect(path: path, displayName: displayName)
        }
        switch try await catalog.insertModel(row) {
        case .inserted(let model):
            openModels[model.sha256] = (file, model.fileSize, model.fileModified)
            logger.info(
                "model imported",
                metadata: [
                    "model": "\(model.name)", "sha256": "\(model.sha256)", "path": "\(path)",
                    "seconds": "\(started.secondsElapsed)",
                ])
            return (model, false)
        case .alreadyPresent(let model):
            return (model, true)
        case .nameTaken(let holder):
            throw ModelLibraryError.nameTaken(
                name: row.name, holderSHA256: holder.sha256, holderPath: holder.path)
        }
    }

    /// Fetches a known model into the model directory (unless the catalog already has its
    /// file), then imports it.
    func importKnownModel(name: String, displayName: String) async throws -> (
        model: ModelRow, alreadyPresent: Bool
    ) {
        guard let known = KnownModels.named(name) else {
            throw ModelLibraryError.unknownKnownModel(.unknownModel(name))
        }
        if let model = try await catalog.model(sha256: known.sha256),
            Self.fileIdentity(model.path)?.size == known.sizeBytes
        {
            return (model, true)
        }
        let log = logger
        let path: String
        do {
            path = try await BlockingWork.run {
                try ModelFetcher.fetch(name) {
                    log.info("fetch", metadata: ["model": "\(name)", "step": "\($0)"])
                }
            }
        } catch {
            throw ModelLibraryError.fetchFailed(name: name, reason: "\(error)")
        }
        return try await importModel(
            path: path, displayName: displayName.isEmpty ? name : displayName)
    }

    /// Parses, analyses and hashes a model file; a bad file is refused in the reader's words.
    static func inspect(path: String, displayName: String) throws(ModelLibraryError) -> (
        GGUFFile, ModelRow
    ) {
        let file: GGUFFile
        let profile: ModelAnalysis
        do {
            file = try GGUFFile(path: path)
            profile = try ModelAnalysis(model: file)
        } catch GGUFError.badMagic {
            // Not the reader's words here: they quote the file's first bytes, and an error
            // must not echo a file's content to whoever asked for it.
            throw .unusableModel(
                path: path, reason: "not a GGUF file (it does not start with \"GGUF\")")
        } catch {
            throw .unusableModel(path: path, reason: "\(error)")
        }
        guard let identity = fileIdentity(path),
            let sha256 = try? FileDigest.sha256Hex(ofFile: path)
        else {
            throw .unreadableModel(path: path)
        }
        let fileName = URL(fileURLWithPath: path).lastPathComponent
        let name =
            !displayName.isEmpty
            ? displayName
            : KnownModels.all.first { $0.sha256 == sha256 }?.name
                ?? (fileName.hasSuffix(".gguf") ? String(fileName.dropLast(5)) : fileName)
        guard !isSHA256(name) else {
            throw .nameLooksLikeHash(name)
        }
        let row = ModelRow(
            sha256: sha256, name: name, path: path, fileSize: identity.size,
            fileModified: identity.modified,
            profile: profile, importedAt: Date())
        return (file, row)
    }

    // MARK: Resolving

    /// The model named or hashed by `reference`; empty means the default model.
    func resolve(_ reference: String) async throws -> ModelRow {
        let wanted = reference.isEmpty ? ModelLocator.defaultModelName : reference
        if Self.isSHA256(wanted), let model = try await catalog.model(sha256: wanted) {
            return model
        }
        if let model = try await catalog.model(named: wanted) { return model }
        let known = try await catalog.models().map(\.name)
        throw ModelLibraryError.modelNotFound(wanted, known: known)
    }

    // MARK: Shards

    /// The shard of `model` for `layers`: the recorded one if its file is intact, else cut now.
    func shard(of model: ModelRow, layers: Range<Int>) async throws -> ShardRow {
        let key = ShardKey(model: model.sha256, first: layers.lowerBound, last: layers.upperBound)
        if let request = shardRequests[key] { return try await request.value }
        let request = Task { try await self.recordedOrCut(model: model, layers: layers) }
        shardRequests[key] = request
        defer { shardRequests[key] = nil }
        return try await request.value
    }

    private func recordedOrCut(model: ModelRow, layers: Range<Int>) async throws -> ShardRow {
        if let row = try await catalog.shard(model: model.sha256, layers: layers),
            Self.fileIdentity(shardPath(row.sha256))?.size == row.sizeBytes
        {
            return row
        }
        let file = try await openModel(model)
        let temporary =
            "\(shardDirectory)/.cut-\(model.sha256.prefix(16))-\(layers.lowerBound)-\(layers.upperBound)-\(UUID().uuidString).gguf"
        let started = ContinuousClock.now
        let info: ShardInfo
        do {
            info = try await BlockingWork.run { [shardDirectory] in
                let info = try ShardCutter.cut(
                    model: file, modelSHA256: model.sha256, layers: layers, to: temporary)
                guard rename(temporary, "\(shardDirectory)/\(info.sha256).gguf") == 0 else {
                    let reason = String(cString: strerror(errno))
                    unlink(temporary)
                    throw ShardCutter.CutError.writeFailed(
                        path: "\(shardDirectory)/\(info.sha256).gguf", reason: reason)
                }
                return info
            }
        } catch let error as ShardCutter.CutError {
            throw ModelLibraryError(cutting: model.name, error)
        }
        let row = ShardRow(
            sha256: info.sha256, modelSha256: model.sha256, firstLayer: layers.lowerBound,
            lastLayer: layers.upperBound,
            sizeBytes: info.sizeBytes, hasEmbedding: info.hasEmbedding, hasOutput: info.hasOutput,
            cutAt: Date())
        try await catalog.recordShard(row)
        logger.info(
            "shard cut",
            metadata: [
                "model": "\(model.name)", "layers": "[\(layers.lowerBound),\(layers.upperBound))",
                "sha256": "\(info.sha256)",
                "bytes": "\(info.sizeBytes)", "seconds": "\(started.secondsElapsed)",
            ])
        return row
    }

    /// A recorded shard and its file, for download; a lost file is cut again (same bytes).
    func shardFile(sha256: String) async throws -> (row: ShardRow, path: String) {
        guard Self.isSHA256(sha256) else {
            throw ModelLibraryError.malformedShardHash(sha256)
        }
        guard let row = try await catalog.shard(sha256: sha256) else {
            throw ModelLibraryError.shardNotFound(sha256)
        }
        if Self.fileIdentity(shardPath(sha256))?.size != row.sizeBytes {
            guard let model = try await catalog.model(sha256: row.modelSha256) else {
                throw ModelLibraryError.shardAndModelGone(sha256)
            }
            let recut = try await shard(of: model, layers: row.layers)
            guard recut.sha256 == sha256 else {
                throw ModelLibraryError.recutDiffers(sha256, recut: recut.sha256)
            }
        }
        return (row, shardPath(sha256))
    }

    // MARK: Model files

    /// The mapped model, after checking that its file is the one imported: a file whose size
    /// or modification time changed is hashed again and refused if its bytes changed.
    func openModel(_ model: ModelRow) async throws -> GGUFFile {
        guard let identity = Self.fileIdentity(model.path) else {
            throw ModelLibraryError.modelFileGone(path: model.path, model: model.name)
        }
        if let open = openModels[model.sha256], open.size == identity.size,
            open.modified == identity.modified
        {
            return open.file
        }
        if identity.size != model.fileSize || identity.modified != model.fileModified {
            let path = model.path
            let sha256 = try await BlockingWork.run { try FileDigest.sha256Hex(ofFile: path) }
            guard sha256 == model.sha256 else {
                throw ModelLibraryError.modelFileChanged(
                    path: model.path, model: model.name, sha256: sha256)
            }
            try await catalog.updateFile(
                ofModel: model.sha256, size: identity.size, modified: identity.modified)
        }
        let path = model.path
        let file: GGUFFile
        do {
            file = try await BlockingWork.run { try GGUFFile(path: path) }
        } catch {
            throw ModelLibraryError.modelFileUnreadable(path: path, reason: "\(error)")
        }
        openModels[model.sha256] = (file, identity.size, identity.modified)
        return file
    }

    static func fileIdentity(_ path: String) -> (size: Int, modified: Double)? {
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path),
            attributes[.type] as? FileAttributeType == .typeRegular,
            let size = (attributes[.size] as? NSNumber)?.intValue,
            let modified = attributes[.modificationDate] as? Date
        else { return nil }
        return (size, modified.timeIntervalSince1970)
    }

    static func isSHA256(_ text: String) -> Bool { ShardReference.isValidHash(text) }
}
