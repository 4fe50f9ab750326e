import Foundation

/// Runs blocking work (hashing a model, parsing a header, cutting a shard) on a Dispatch
/// thread instead of the cooperative pool, which has one thread per core: a 10-second hash
/// there would stall every other request.
enum BlockingWork {
    private static let queue = DispatchQueue(
        label: "tessera.cache-manager.blocking", qos: .userInitiated, attributes: .concurrent)

    static func run<Result: Sendable>(_ work: @escaping @Sendable () throws -> Result) async throws
        -> Result
    {
        try await withCheckedThrowingContinuation { continuation in
            queue.async { continuation.resume(with: Swift.Result { try work() }) }
        }
    }
}
