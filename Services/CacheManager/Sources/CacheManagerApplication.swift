import Foundation
import Logging
import ServiceKit

public struct CacheManagerConfiguration: Sendable {
    public var grpcAddress = ListenAddress(host: "127.0.0.1", port: 7402)
    public var httpAddress: ListenAddress? = ListenAddress(host: "127.0.0.1", port: 9402)
    /// The model store: imported models, shards and the catalog (a named volume in compose).
    public var storeDirectory = FileManager.default.homeDirectoryForCurrentUser
        .appendingPathComponent(".cache/tessera/store").path

    public init() {}
}

/// Builds the cache-manager. It reports SERVING once its store directory is usable.
public func buildCacheManager(_ configuration: CacheManagerConfiguration, logger: Logger) -> ServiceApplication {
    ServiceApplication(
        name: "cache-manager", grpcAddress: configuration.grpcAddress, httpAddress: configuration.httpAddress,
        logger: logger,
        rpcServices: [CacheManagerService()],
        readiness: { _ in
            do {
                try FileManager.default.createDirectory(
                    atPath: configuration.storeDirectory, withIntermediateDirectories: true)
            } catch {
                throw ServiceError.configuration("cannot use store directory \(configuration.storeDirectory): \(error)")
            }
        })
}
