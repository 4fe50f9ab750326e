import Inference
import Synchronization

/// The sessions this worker serves at once: its KV slots. The scheduler grants a lease only
/// while every stage of a pipeline has a free slot (it counts leases per worker against the
/// count reported here, at registration, in heartbeats and with each loaded shard), so this
/// is the worker's own guard behind that count for the moments the two disagree: a lease
/// released a few milliseconds before its sessions closed down the chain, or leases a
/// restarted scheduler has not counted again yet. A session beyond the limit is refused
/// (RESOURCE_EXHAUSTED) after a short grace, never queued here: requests wait in the
/// gateway's FIFO queue, where they hold no memory.
///
/// The count is `--max-sessions`, or (0) derived from memory: as many KV caches at the served
/// context length as fit in the memory budget beside the hosted shards, at least 1 and at
/// most `derivedCap`.
final class SessionSlots: Sendable {
    /// A derived count never exceeds this: two full decode passes at the default --max-batch
    /// (32). Beyond that another session would only wait inside the worker holding its KV
    /// cache; it waits better in the gateway's queue, first come first served.
    static let derivedCap = 64
    /// How long a session beyond the limit waits for a slot before it is refused: covers a
    /// lease released just before its sessions finished closing, not real overload.
    static let grace: Duration = .milliseconds(500)

    private struct State {
        var limit: Int
        var inUse = 0
    }

    /// `--max-sessions`; 0 = derived from memory.
    let configured: Int
    private let state: Mutex<State>

    init(configured: Int = 0) {
        self.configured = max(0, configured)
        let limit = configured > 0 ? configured : Self.derivedCap
        state = Mutex(State(limit: limit))
        WorkerMetrics.sessionSlots(limit)
    }

    /// Sessions this worker serves at once now.
    var limit: Int { state.withLock { $0.limit } }
    /// Sessions open now.
    var inUse: Int { state.withLock { $0.inUse } }

    /// The count for a memory budget of `budgetBytes` holding shards of `shardBytes`, each
    /// session's KV caches taking `sessionBytes` (nil: the served context is not known, as for
    /// a shard loaded by hand: only the cap applies; the budget still refuses a KV cache that
    /// does not fit).
    static func derived(budgetBytes: UInt64, shardBytes: UInt64, sessionBytes: UInt64?) -> Int {
        guard let sessionBytes, sessionBytes > 0 else { return derivedCap }
        let free = budgetBytes - min(budgetBytes, shardBytes)
        return Int(min(UInt64(derivedCap), max(1, free / sessionBytes)))
    }

    /// Derives the count again for the shards hosted now (a configured count stays). A
    /// session uses one shard's KV caches, so the largest of them is what one slot must hold.
    func derive(budgetBytes: UInt64, shards: [HostedShard], contextLength: Int?) {
        guard configured == 0 else { return }
        let sessionBytes = contextLength.flatMap { context in
            shards.map { $0.kvCacheBytes(contextLength: context) }.max()
        }
        let limit = Self.derived(
            budgetBytes: budgetBytes, shardBytes: shards.reduce(0) { $0 + $1.fileBytes },
            sessionBytes: sessionBytes)
        state.withLock { $0.limit = limit }
        WorkerMetrics.sessionSlots(limit)
    }

    /// Takes a slot for a new session, waiting up to `grace` for one to free; release it with
    /// `release()` when the session ends. Throws `WorkerError.sessionsFull` when none frees.
    func claim(grace: Duration = SessionSlots.grace) async throws {
        let deadline = ContinuousClock.now + grace
        while true {
            let (claimed, limit) = state.withLock { state in
                guard state.inUse < state.limit else { return (false, state.limit) }
                state.inUse += 1
                return (true, state.limit)
            }
            if claimed { return }
            guard ContinuousClock.now < deadline else {
                WorkerMetrics.sessionsRefused.increment()
                throw WorkerError.sessionsFull(limit: limit, configured: configured > 0)
            }
            // Polled, and only while full: the wait is short and rare (see `grace`).
            try await Task.sleep(for: .milliseconds(10))
        }
    }

    func release() {
        state.withLock { $0.inUse = max(0, $0.inUse - 1) }
    }
}

extension HostedShard {
    /// Bytes of one session's KV caches over this shard's layers for `contextLength` tokens
    /// (the model's context at most): what `ForwardSession.open` reserves (keys and values,
    /// f16 unless a session asks for f32).
    func kvCacheBytes(contextLength: Int, precision: KVCachePrecision = .f16) -> UInt64 {
        let tokens = min(contextLength, hyperparameters.contextLength)
        return UInt64(
            2 * layers.count * tokens * hyperparameters.kvWidth * precision.bytesPerValue)
    }
}
