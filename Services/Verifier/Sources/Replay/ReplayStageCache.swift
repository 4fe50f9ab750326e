import Synchronization

/// Stages loaded for replays, by shard and layers, the most recently used kept: consecutive
/// receipts mostly run on the same few pipelines, and mapping a shard and building its stage
/// is worth doing once. Bounded, since every stage holds a thread pool and a workspace.
/// Concurrent replays may share a stage: its forward passes are serialized by the engine.
final class ReplayStageCache: Sendable {
    struct Key: Hashable, Sendable {
        var sha256: String
        var layers: Range<Int>
    }

    private struct State {
        var stages: [Key: ReplayStage] = [:]
        /// Least recently used first.
        var order: [Key] = []
    }

    let capacity: Int
    let threads: Int
    private let state = Mutex(State())

    init(capacity: Int, threads: Int) {
        self.capacity = max(1, capacity)
        self.threads = max(1, threads)
    }

    func cached(_ key: Key) -> ReplayStage? {
        state.withLock { state in
            guard let stage = state.stages[key] else { return nil }
            state.order.removeAll { $0 == key }
            state.order.append(key)
            return stage
        }
    }

    /// The cached stage, or loads it from `path` (outside the lock: a load maps a file).
    func stage(_ key: Key, path: String) throws(ReplayStageError) -> ReplayStage {
        if let stage = cached(key) { return stage }
        let stage = try ReplayStage(path: path, layers: key.layers, threads: threads)
        return state.withLock { state in
            if let raced = state.stages[key] { return raced }
            state.stages[key] = stage
            state.order.append(key)
            while state.order.count > capacity {
                state.stages[state.order.removeFirst()] = nil
            }
            return stage
        }
    }
}
