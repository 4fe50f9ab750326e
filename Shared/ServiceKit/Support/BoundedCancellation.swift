import Synchronization

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
    let gate = OnceGate()
    let running = Task { try await operation() }
    let outcome = await withTaskCancellationHandler {
        await withCheckedContinuation { continuation in
            gate.wait(continuation)
            // Unstructured: it must not hold the caller beyond the grace (see above).
            Task { gate.open(await running.result) }
        }
    } onCancel: {
        running.cancel()
        Task {
            try? await Task.sleep(for: grace)
            gate.open(.success(()))
        }
    }
    try outcome.get()
}

/// A continuation resumed once, with the first outcome given (before or after it waits).
private final class OnceGate: Sendable {
    typealias Outcome = Result<Void, any Error>

    private enum State {
        case closed
        case waiting(CheckedContinuation<Outcome, Never>)
        case open(Outcome)
        case done
    }

    private let state = Mutex(State.closed)

    func wait(_ continuation: CheckedContinuation<Outcome, Never>) {
        let ready = state.withLock { state -> Outcome? in
            guard case .open(let outcome) = state else {
                state = .waiting(continuation)
                return nil
            }
            state = .done
            return outcome
        }
        if let ready { continuation.resume(returning: ready) }
    }

    func open(_ outcome: Outcome) {
        let waiting = state.withLock { state -> CheckedContinuation<Outcome, Never>? in
            switch state {
            case .closed:
                state = .open(outcome)
                return nil
            case .waiting(let continuation):
                state = .done
                return continuation
            case .open, .done:
                return nil
            }
        }
        waiting?.resume(returning: outcome)
    }
}
