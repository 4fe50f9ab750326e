import GRPCCore
import ServiceKit
import Synchronization
import TesseraProto

/// Serves one `Forward` stream: `open`, then one response per step, in order, until the
/// caller half-closes or cancels. The session's KV cache and its stream to the next stage
/// end with the stream. When the worker begins shutting down, open streams fail with
/// UNAVAILABLE naming this worker, so callers fail over instead of waiting for it. A caller
/// that sends nothing for `idleTimeout` gets DEADLINE_EXCEEDED and its session is freed.
struct ForwardStream: Sendable {
    let environment: ForwardEnvironment
    let shuttingDown: OneShot<Void>

    func serve(
        _ requests: RPCAsyncSequence<Tessera_V1_ForwardRequest, any Error>,
        _ writer: RPCWriter<Tessera_V1_ForwardResponse>, requestID: String? = nil
    ) async throws {
        // The session's log lines carry the request they serve.
        let environment = self.environment.serving(requestID)
        let state = environment.state
        let shuttingDown = self.shuttingDown
        let activity = ActivityClock()
        let idleTimeout = environment.idleTimeout
        let downstreamFailed = OneShot<RPCError>()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                try await run(
                    requests, writer, activity: activity, environment: environment,
                    requestID: requestID, downstreamFailed: downstreamFailed)
            }
            group.addTask { throw try await downstreamFailed.value }
            group.addTask {
                while true {
                    let idle = activity.idleFor
                    if idle >= idleTimeout {
                        throw RPCError(
                            code: .deadlineExceeded,
                            message:
                                "no message from the caller for \(idleTimeout); the session was ended and its KV cache freed"
                        )
                    }
                    try await Task.sleep(for: idleTimeout - idle)
                }
            }
            group.addTask {
                try await shuttingDown.value
                let name = state.workerID
                throw RPCError(
                    code: .unavailable, message: "worker \(name) is shutting down",
                    metadata: [DownstreamHop.failedWorkerKey: .string(name)])
            }
            // Whichever ends first (the session, its next stage failing, or shutdown) ends
            // the stream.
            try await group.next()
            group.cancelAll()
        }
    }

    private func run(
        _ requests: RPCAsyncSequence<Tessera_V1_ForwardRequest, any Error>,
        _ writer: RPCWriter<Tessera_V1_ForwardResponse>,
        activity: ActivityClock, environment: ForwardEnvironment, requestID: String?,
        downstreamFailed: OneShot<RPCError>
    ) async throws {
        var messages = requests.makeAsyncIterator()
        guard let first = try await messages.next() else { return }  // closed without a session
        activity.touch()
        guard case .open(let open)? = first.kind else {
            throw RPCError.invalidArgument(
                "a Forward stream must start with open; the first message was a step")
        }
        var request = try SessionRequest(open)
        request.requestID = requestID
        // A slot first: a session beyond the worker's limit is refused before it reserves
        // anything (the scheduler's leases normally keep it away; see SessionSlots).
        let slots = environment.state.slots
        try await slots.claim()
        let session: ForwardSession
        do {
            session = try await ForwardSession.open(request, environment: environment)
        } catch {
            slots.release()
            throw error
        }
        WorkerMetrics.sessions(opened: true)
        environment.logger.debug(
            "session opened",
            metadata: ["session": "\(open.sessionID)", "shard": "\(open.shardSha256)"])
        defer {
            slots.release()
            WorkerMetrics.sessions(opened: false)
            // A last stage's Answers stream ends with its session.
            if session.downstream == nil { environment.answers.sessionEnded(session.id) }
        }
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                if let hop = session.downstream {
                    let (call, stage) = (hop.call, hop.stage)
                    // The next stage failing ends this stream at once, also between steps:
                    // direct steps wait for no reply that would otherwise bring the failure.
                    group.addTask {
                        if let failure = await call.run() {
                            downstreamFailed.set(
                                DownstreamHop.upstreamError(for: failure, stage: stage))
                        }
                    }
                }
                do {
                    while let message = try await messages.next() {
                        activity.touch()
                        switch message.kind {
                        case .step(let step)?:
                            // nil: a direct step, answered by the last stage to the gateway.
                            if let result = try await session.tracedStep(
                                StageStep(
                                    step, width: session.shard.hyperparameters.embeddingLength))
                            {
                                try await writer.write(
                                    Tessera_V1_ForwardResponse(
                                        result, measuringLastStage: session.downstream == nil))
                            }
                        case .commitments(let following)?:
                            try await session.receive(FollowingCommitments(following))
                        case .open?:
                            throw RPCError.invalidArgument(
                                "a Forward stream carries one session; open came twice")
                        case nil:
                            throw RPCError.invalidArgument(
                                "a ForwardRequest must hold open, step or commitments")
                        }
                    }
                } catch {
                    group.cancelAll()
                    throw error
                }
                // The caller half-closed: end the next stage's session the same way.
                session.downstream?.close()
                try await group.waitForAll()
            }
        } catch {
            environment.logger.debug(
                "session failed", metadata: ["session": "\(session.id)", "error": "\(error)"])
            throw error
        }
        environment.logger.debug("session closed", metadata: ["session": "\(session.id)"])
    }
}

/// When a stream last heard from its caller.
final class ActivityClock: Sendable {
    private let last = Mutex(ContinuousClock.now)

    func touch() { last.withLock { $0 = .now } }

    var idleFor: Duration { ContinuousClock.now - last.withLock { $0 } }
}

extension ForwardEnvironment {
    /// This environment with `request_id` on its log lines.
    func serving(_ requestID: String?) -> ForwardEnvironment {
        guard let requestID else { return self }
        var environment = self
        environment.logger[metadataKey: RequestID.logKey] = "\(requestID)"
        return environment
    }
}
