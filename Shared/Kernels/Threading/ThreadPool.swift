import Foundation
import Synchronization

/// A small persistent pool that runs one closure on every worker at once and waits for all
/// of them. The caller is worker 0, so a pool of one thread runs everything inline.
///
/// The forward pass dispatches a few hundred times per token, so waking must be cheap:
/// idle workers spin on an atomic generation counter for a short while before they sleep
/// on a condition variable.
// @unchecked: its state is shared with the worker threads through atomics and a condition
// variable (WorkerState), which the compiler cannot check.
public final class ThreadPool: @unchecked Sendable {
    public let threadCount: Int
    private let state: WorkerState
    private let dispatchLock = NSLock()

    public init(threads: Int) {
        threadCount = max(1, threads)
        state = WorkerState()
        for index in 1..<threadCount {
            let state = state
            let thread = Thread { state.workerLoop(index: index) }
            thread.name = "tessera-worker-\(index)"
            thread.start()
        }
    }

    deinit {
        state.shutDown()
    }

    /// Runs `body(worker)` for worker in 0..<threadCount concurrently and returns when all finished.
    /// Calls from several threads are serialized: the pool runs one job at a time.
    public func run(_ body: (Int) -> Void) {
        if threadCount == 1 {
            body(0)
            return
        }
        dispatchLock.lock()
        defer { dispatchLock.unlock() }
        withoutActuallyEscaping(body) { escapable in
            state.dispatch(escapable, workers: threadCount - 1)
        }
    }
}

/// What the pool and its worker threads share; workers keep it alive until they exit.
// @unchecked: fields are atomics, or guarded by the condition variable's mutex.
private final class WorkerState: @unchecked Sendable {
    private let generation = Atomic<Int>(0)
    private let pending = Atomic<Int>(0)
    private let stopping = Atomic<Bool>(false)
    private let condition = NSCondition()
    private var task: ((Int) -> Void)?

    /// Tight polls, then polls that yield the core (cheap when a core is free, and polite when
    /// the machine is oversubscribed), before a worker sleeps on the condition variable.
    /// Together they bridge the gaps between the dispatches of one forward pass.
    private static let tightSpins = 2_000
    private static let yieldingSpins = 20_000

    func dispatch(_ body: @escaping (Int) -> Void, workers: Int) {
        task = body
        pending.store(workers, ordering: .relaxed)
        condition.lock()
        generation.add(1, ordering: .releasing)
        condition.broadcast()
        condition.unlock()
        body(0)
        var spins = 0
        while pending.load(ordering: .acquiring) > 0 {
            spins += 1
            if spins > 1000 { sched_yield() }
        }
        task = nil
    }

    func shutDown() {
        stopping.store(true, ordering: .releasing)
        condition.lock()
        generation.add(1, ordering: .releasing)
        condition.broadcast()
        condition.unlock()
    }

    func workerLoop(index: Int) {
        var seen = 0
        while true {
            var spins = 0
            var current = generation.load(ordering: .acquiring)
            while current == seen {
                spins += 1
                if spins > Self.tightSpins + Self.yieldingSpins {
                    condition.lock()
                    while generation.load(ordering: .acquiring) == seen { condition.wait() }
                    condition.unlock()
                } else if spins > Self.tightSpins {
                    sched_yield()
                }
                current = generation.load(ordering: .acquiring)
            }
            seen = current
            if stopping.load(ordering: .acquiring) { return }
            runTask(index)
            pending.subtract(1, ordering: .releasing)
        }
    }

    /// A separate, non-inlined call so the worker's reference to the closure is released
    /// before it reports completion (`withoutActuallyEscaping` checks the closure did not escape).
    @inline(never)
    private func runTask(_ index: Int) {
        task?(index)
    }
}
