import Foundation
import Synchronization

/// A value that is set once and awaited by any number of tasks (for example the port a
/// server actually bound when it was asked for port 0). Waiting honours cancellation, so a
/// service group can always stop a task that waits for something that never comes.
public final class OneShot<Value: Sendable>: Sendable {
    private enum State {
        case waiting([UUID: CheckedContinuation<Value, any Error>])
        case set(Value)
    }

    private let state = Mutex(State.waiting([:]))

    public init() {}

    public func set(_ value: Value) {
        let waiters = state.withLock { state -> [CheckedContinuation<Value, any Error>] in
            guard case .waiting(let waiters) = state else { return [] }
            state = .set(value)
            return Array(waiters.values)
        }
        for waiter in waiters { waiter.resume(returning: value) }
    }

    public var current: Value? {
        state.withLock { if case .set(let value) = $0 { value } else { nil } }
    }

    /// The value once set; throws `CancellationError` if the waiting task is cancelled first.
    public var value: Value {
        get async throws {
            let id = UUID()
            return try await withTaskCancellationHandler {
                try await withCheckedThrowingContinuation { continuation in
                    let ready = state.withLock { state -> Result<Value, any Error>? in
                        switch state {
                        case .set(let value): return .success(value)
                        case .waiting(var waiters):
                            if Task.isCancelled { return .failure(CancellationError()) }
                            waiters[id] = continuation
                            state = .waiting(waiters)
                            return nil
                        }
                    }
                    if let ready { continuation.resume(with: ready) }
                }
            } onCancel: {
                let waiter = state.withLock { state -> CheckedContinuation<Value, any Error>? in
                    guard case .waiting(var waiters) = state else { return nil }
                    let waiter = waiters.removeValue(forKey: id)
                    state = .waiting(waiters)
                    return waiter
                }
                waiter?.resume(throwing: CancellationError())
            }
        }
    }
}
