import ServiceLifecycle

/// Short jobs that a request starts but must not cancel: releasing a lease or reporting a
/// failed worker has to happen even when the client that caused it has gone. Each job runs
/// as a child task of this service, so the service group owns it. At graceful shutdown the
/// service takes no more jobs and returns once the running ones have finished — or, with
/// `cancelsAtShutdown`, cancels them first (for jobs that may never end on their own, such
/// as a call to a stopped peer, once nothing is waiting for them any more).
public final class BackgroundWork: Service, Sendable {
    public typealias Job = @Sendable () async -> Void

    private let jobs: AsyncStream<Job>
    private let submitter: AsyncStream<Job>.Continuation
    private let cancelsAtShutdown: Bool

    public init(cancelsAtShutdown: Bool = false) {
        (jobs, submitter) = AsyncStream.makeStream()
        self.cancelsAtShutdown = cancelsAtShutdown
    }

    /// Queues `job`; it starts at once while the service runs. Dropped after shutdown.
    public func submit(_ job: @escaping Job) {
        submitter.yield(job)
    }

    public func run() async throws {
        await withDiscardingTaskGroup { group in
            group.addTask { [submitter] in
                try? await gracefulShutdown()
                submitter.finish()  // the loop below ends once the queued jobs have started
            }
            for await job in jobs {
                group.addTask { await job() }
            }
            if cancelsAtShutdown { group.cancelAll() }
        }
    }
}
