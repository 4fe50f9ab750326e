import Synchronization

/// Lets one waiting loop sleep until either its period ends or something worth reacting to
/// happens (a worker joined or died), so it reacts in milliseconds without polling faster.
/// A signal sent while nobody waits is kept, and ends the next wait at once.
public final class WakeSignal: Sendable {
    private struct State {
        var pending = false
        var waiter: (id: UInt64, continuation: CheckedContinuation<Void, Never>)?
        var lastWait: UInt64 = 0
        /// The wait whose period ran out before it started waiting.
        var expired: UInt64 = 0
    }

    private let state = Mutex(State())

    public init() {}

    public func signal() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard let waiter = state.waiter else {
                state.pending = true
                return nil
            }
            state.waiter = nil
            return waiter.continuation
        }
        waiter?.resume()
    }

    /// Returns when signalled, after `timeout`, or when the waiting task is cancelled
    /// (a service stopping), whichever is first. One waiter at a time.
    public func wait(upTo timeout: Duration) async {
        let id = state.withLock { state -> UInt64 in
            state.lastWait += 1
            return state.lastWait
        }
        // Scoped to this wait (cancelled on return): ends it when the period runs out.
        let timer = Task { [weak self] in
            // cancelled: we were woken
            guard (try? await Task.sleep(for: timeout)) != nil else { return }
            self?.timeOut(id)
        }
        defer { timer.cancel() }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let now = state.withLock { state -> Bool in
                    if state.pending || state.expired == id {
                        state.pending = false
                        return true
                    }
                    state.waiter = (id, continuation)
                    return false
                }
                if now { continuation.resume() }
            }
        } onCancel: {
            timeOut(id)
        }
    }

    /// Ends wait `id` if it is still waiting (only that one: a later wait has its own period).
    private func timeOut(_ id: UInt64) {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard let waiter = state.waiter, waiter.id == id else {
                state.expired = id
                return nil
            }
            state.waiter = nil
            return waiter.continuation
        }
        waiter?.resume()
    }
}
