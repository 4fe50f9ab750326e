import Foundation
import Logging
import ModelStore
import ServiceKit

public struct CacheManagerConfiguration: Sendable {
    public var grpcAddress = ListenAddress(host: "127.0.0.1", port: 7402)
    public var httpAddress: ListenAddress? = ListenAddress(host: "127.0.0.1", port: 9402)
    /// The model store: the catalog (`catalog.sqlite`) and cut shards (`shards/`); a named
    /// volume in compose. Imported models stay where they are and are recorded by path.
    public var storeDirectory = FileManager.default.homeDirectoryForCurrentUser
        .appendingPathComponent(".cache/tessera/store").path
    /// Models imported at start-up, before the service reports SERVING: known names
    /// (`smollm2-135m`, fetched if needed) or paths (containing `/` or ending in `.gguf`).
    public var preloadModels: [String] = []
    /// Directories ImportModel may read a path from; nil: anywhere (in-process tests). The
    /// executable always sets it (`--import-dir`, by default the model directory).
    public var importConfinement: ImportConfinement?

    public init() {}

    /// `TESSERA_PRELOAD_MODELS` style: comma-separated, blanks ignored.
    public static func parsePreloadList(_ text: String) -> [String] {
        text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter {
            !$0.isEmpty
        }
    }
}

/// Builds the cache-manager. It opens its catalog, imports the preload models, and only
/// then reports SERVING.
public func buildCacheManager(_ configuration: CacheManagerConfiguration, logger: Logger)
    -> ServiceApplication
{
    let library = OneShot<ModelLibrary>()
    return ServiceApplication(
        name: "cache-manager", grpcAddress: configuration.grpcAddress,
        httpAddress: configuration.httpAddress,
        logger: logger,
        rpcServices: [
            CacheManagerService(library: library, confinement: configuration.importConfinement)
        ],
        readiness: { _ in
            let started = ContinuousClock.now
            let opened: ModelLibrary
            do {
                opened = try ModelLibrary(
                    storeDirectory: configuration.storeDirectory, logger: logger)
            } catch {
                throw ServiceError.configuration(
                    "cannot use store directory \(configuration.storeDirectory): \(error)")
            }
            let models = try await opened.catalog.models().count
            logger.info(
                "catalog open",
                metadata: [
                    "store": "\(configuration.storeDirectory)", "models": "\(models)",
                    "seconds": "\(started.secondsElapsed)",
                ])
            library.set(opened)
            try await preload(configuration.preloadModels, into: opened, logger: logger)
        })
}

/// Imports each preload entry; a failure stops the service, since it was asked to serve them.
private func preload(_ entries: [String], into library: ModelLibrary, logger: Logger) async throws {
    for entry in entries {
        let isPath = entry.contains("/") || entry.hasSuffix(".gguf")
        // A model the catalog has under this name (a variant, `smollm2-135m:q4_0`) needs
        // no import; a known name is still checked against its file below.
        if !isPath, KnownModels.named(entry) == nil,
            let recorded = try await library.catalog.model(named: entry)
        {
            logger.info(
                "preloaded",
                metadata: [
                    "model": "\(recorded.name)", "sha256": "\(recorded.sha256)",
                    "already_present": "true",
                ])
            continue
        }
        do {
            let result =
                isPath
                ? try await library.importModel(path: entry, displayName: "")
                : try await library.importKnownModel(name: entry, displayName: "")
            logger.info(
                "preloaded",
                metadata: [
                    "model": "\(result.model.name)", "sha256": "\(result.model.sha256)",
                    "already_present": "\(result.alreadyPresent)",
                ])
        } catch let error as ModelLibraryError {
            throw ServiceError.configuration("cannot preload \(entry): \(error)")
        }
    }
}
