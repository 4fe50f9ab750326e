import Dispatch

/// Runs blocking work (a forward pass, hashing a file) on a dispatch queue instead of a
/// Swift concurrency thread: the cooperative pool has one thread per core, and a forward
/// pass that sat on it would stall every other RPC of the process meanwhile.
public enum Offload {
    public static let io = DispatchQueue(label: "tessera.io", attributes: .concurrent)

    public static func run<Value: Sendable>(
        on queue: DispatchQueue = io, _ body: @escaping @Sendable () throws -> Value
    ) async throws -> Value {
        try await withCheckedThrowingContinuation { continuation in
            queue.async { continuation.resume(with: Result { try body() }) }
        }
    }
}
