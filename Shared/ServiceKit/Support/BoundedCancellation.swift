/// Runs `operation` and returns when it ends (throwing what it threw) or, once the caller is
/// cancelled, `grace` later at most: the operation is cancelled too, but if it has not ended
/// by then it is left to end on its own (or with the process), and this returns normally.
///
/// Why: a gRPC client's connections cannot end while a host name is being resolved, and
/// `getaddrinfo` cannot be interrupted. A peer whose name has just gone from DNS (a stopped
/// container) can hold them for the resolver's timeouts, 5 s per try; a service that waits for
/// them at shutdown outlives its orchestrator's grace period and is killed (exit 137).
public func withBoundedCancellation(
    grace: Duration, _ operation: @escaping @Sendable () async throws -> Void
) async throws {
    // The first of: the operation's outcome, or a normal end `grace` after cancellation.
    let outcome = OneShot<Result<Void, any Error>>()
    let running = Task {
        do {
            try await operation()
            outcome.set(.success(()))
        } catch {
            outcome.set(.failure(error))
        }
    }
    // Unstructured, so the caller's cancellation does not end the wait before `outcome` is set.
    let waiter = Task { try? await outcome.value }
    let result = await withTaskCancellationHandler {
        await waiter.value
    } onCancel: {
        running.cancel()
        Task {
            try? await Task.sleep(for: grace)
            outcome.set(.success(()))
        }
    }
    try result?.get()
}
