import GRPCCore
import Logging
import ServiceKit
import TesseraProto
import Tracing

/// A pipeline granted by the scheduler for one request; released when the request ends.
struct PipelineLease: Sendable {
    var route: PipelineRoute
    var leaseID: String
}

/// The gateway's side of routing, and its edge to the scheduler's routing RPCs: acquire a
/// pipeline (waiting with backoff while none is ready, and in the admission queue while every
/// session slot is in use), release it, and report workers that failed.
struct PipelineRouter: Sendable {
    let scheduler: Tessera_V1_Scheduler.Client<TesseraClientTransport>
    /// Whether the scheduler answers: while it does not, requests fail at once.
    let schedulerWatch: SchedulerWatch
    /// Releases and failure reports run here: they must finish even when the request's task
    /// was cancelled (a client that disconnected), and they are not awaited.
    let background: BackgroundWork
    /// Renews the leases this router grants until they are released.
    let leases: LeaseRenewal
    let logger: Logger
    /// How long a request waits for a ready pipeline before it gets UNAVAILABLE / 503.
    var waitLimit: Duration
    /// Where requests wait while every session slot is in use.
    var admission = AdmissionQueue()
    /// How this gateway's sessions hold and free slots: what predicts a new request's wait
    /// in the queue (a lease's grant and release are its session's start and end).
    var turnover = SlotTurnover()

    /// Codes that mean "no pipeline right now" (not ready yet, being re-planned).
    private static let transient: Set<RPCError.Code> = [
        .unavailable, .notFound, .failedPrecondition, .aborted, .deadlineExceeded,
    ]

    /// `failFast`: a new request fails at once while the scheduler is unreachable; a running
    /// generation that fails over waits for it (up to the wait limit) instead, and goes ahead
    /// of new requests in the admission queue. `deadline`: the gRPC client's, which ends a
    /// wait in the queue too. `tenant`: the API key, whose requests share the queue fairly
    /// with other keys' (nil: the one anonymous tenant).
    func acquire(
        model: String, avoiding: Set<String>, expectedTokens: Int, failFast: Bool = true,
        deadline clientDeadline: RequestDeadline? = nil, tenant: String? = nil
    ) async throws -> PipelineLease {
        GatewayMetrics.waitingForPipeline.increment()
        defer { GatewayMetrics.waitingForPipeline.decrement() }
        var deadline = ContinuousClock.now + waitLimit
        // Short and flat: asking is an in-memory lookup at the scheduler, and every 100 ms
        // of backoff is added to the pause a client sees after a failover.
        var backoff = Backoff(initial: .milliseconds(50), maximum: .milliseconds(250))
        var lastProblem = "no answer"
        var avoiding = avoiding
        // The request's place in the admission queue, once it has to wait for a slot.
        let priority: AdmissionQueue.Priority = failFast ? .newRequest : .failover
        var place: AdmissionQueue.Place?
        var admitted = false
        defer { if let place { admission.leave(place, admitted: admitted) } }
        var poll = admission.poll
        // A new request does not overtake those already waiting (of its own key, nor the
        // other keys' turns: see AdmissionQueue).
        if priority == .newRequest && admission.hasWaiters {
            place = try admission.join(
                priority: priority, deadline: queueDeadline(priority, clientDeadline), asked: false,
                tenant: tenant, model: model, predictor: turnover.predictor(model: model))
        }
        while true {
            if let place {
                try await withSpan("queue") { _ in
                    try await admission.waitForTurn(place, backoff: &poll)
                }
            }
            guard schedulerWatch.isReachable || !failFast else {
                throw GatewayError(
                    .unavailable, "the scheduler is unreachable; retry in a few seconds",
                    retryAfter: .seconds(2))
            }
            do {
                let response = try await scheduler.acquirePipeline(
                    .with {
                        $0.model = model
                        $0.avoidWorkerIds = avoiding.sorted()
                        $0.expectedTokens = UInt32(clamping: expectedTokens)
                    }, options: .timeout(.seconds(10)))
                do {
                    let lease = PipelineLease(
                        route: try PipelineRoute(response.pipeline), leaseID: response.leaseID)
                    leases.hold(
                        lease.leaseID, ttl: .milliseconds(Int(response.leaseTtlMs)),
                        grant: LeaseRenewal.Grant(
                            model: model, route: lease.route, expectedTokens: expectedTokens))
                    turnover.started(leaseID: lease.leaseID, model: model)
                    admitted = true
                    return lease
                } catch {
                    lastProblem = "the granted pipeline cannot be used: \(error)"
                    release(leaseID: response.leaseID)
                }
            } catch let error as RPCError
                where error.code == .resourceExhausted
                && error.metadata[stringValues: MetadataKeys.noRoom].first(where: { _ in true })
                    != nil
            {
                // The model cannot be loaded now (nothing can make room for it): a slot
                // freeing would not help, so the client hears why at once, with when to retry.
                let pushback = error.metadata[stringValues: MetadataKeys.retryPushback]
                    .first(where: { _ in true }).flatMap { Int($0) }
                throw GatewayError(
                    .unavailable, error.message,
                    retryAfter: .milliseconds(max(1000, pushback ?? 5000)))
            } catch let error as RPCError where error.code == .notFound {
                // The catalog has the model but the scheduler does not serve it.
                throw GatewayError(.modelNotFound, error.message, parameter: "model")
            } catch let error as RPCError where error.code == .resourceExhausted {
                // Every session slot is in use: wait in the queue (or be refused when it is
                // full). Pipelines exist, so the wait for a ready one starts again after.
                admission.noteRetryHint(
                    milliseconds: error.metadata[stringValues: MetadataKeys.retryPushback]
                        .first(where: { _ in true }).flatMap { Int($0) })
                if let slots = error.metadata[stringValues: MetadataKeys.sessionCapacity]
                    .first(where: { _ in true }).flatMap({ Int($0) })
                {
                    turnover.noteSlots(slots, model: model)
                }
                if place == nil {
                    place = try admission.join(
                        priority: priority, deadline: queueDeadline(priority, clientDeadline),
                        asked: true, tenant: tenant, model: model,
                        predictor: turnover.predictor(model: model))
                }
                logger.debug(
                    "waiting for a session slot",
                    metadata: ["model": "\(model)", "reason": "\(error.message)"])
                deadline = ContinuousClock.now + waitLimit
                continue
            } catch let error as RPCError where Self.transient.contains(error.code) {
                lastProblem = error.message
            } catch let error as RPCError where error.code == .unimplemented {
                throw GatewayError(
                    .unavailable, "the scheduler cannot route requests: \(error.message)")
            } catch let error as RPCError {
                // A client that left while its ask was under way: the call failed because the
                // task was cancelled, not because the scheduler refused.
                try Task.checkCancellation()
                throw GatewayError(
                    .unavailable,
                    "the scheduler refused a pipeline: \(error.code): \(error.message)")
            }
            // The scheduler health-checked the workers we reported and dropped dead ones; a
            // worker that restarted is fine again. Avoiding it for good could leave no pipeline.
            avoiding = []
            try Task.checkCancellation()
            let pause = backoff.next()
            guard ContinuousClock.now + pause < deadline else {
                throw GatewayError(
                    .unavailable,
                    "no pipeline can serve the model within \(waitLimit) (last: \(lastProblem))")
            }
            logger.debug(
                "waiting for a pipeline",
                metadata: ["model": "\(model)", "reason": "\(lastProblem)"])
            try await Task.sleep(for: pause)
        }
    }

    /// When a wait in the admission queue ends: a new request's after the longest queue wait,
    /// a failover's after the pipeline wait limit; either sooner when the client's deadline
    /// comes first.
    private func queueDeadline(_ priority: AdmissionQueue.Priority, _ client: RequestDeadline?)
        -> AdmissionQueue.Deadline
    {
        let now = ContinuousClock.now
        var deadline =
            priority == .newRequest
            ? AdmissionQueue.Deadline(
                instant: now + admission.limits.maxWait,
                reason: .queueWait(admission.limits.maxWait))
            : AdmissionQueue.Deadline(instant: now + waitLimit, reason: .pipelineWait(waitLimit))
        if let client, client.waitEnd < deadline.instant {
            deadline = AdmissionQueue.Deadline(
                instant: client.waitEnd, reason: .client(client.timeout))
        }
        return deadline
    }

    /// Ends a lease, in the background (see `background`). If the scheduler lost the lease
    /// and granted it again under another id (see LeaseRenewal), that one is released.
    func release(_ lease: PipelineLease) {
        release(leaseID: lease.leaseID)
    }

    private func release(leaseID granted: String) {
        guard !granted.isEmpty else { return }
        turnover.ended(leaseID: granted)
        let leaseID = leases.drop(granted) ?? granted
        let scheduler = self.scheduler
        let logger = self.logger
        let admission = self.admission
        background.submit {
            do {
                _ = try await scheduler.releasePipeline(
                    .with { $0.leaseID = leaseID }, options: .timeout(.seconds(5)))
            } catch {
                logger.debug(
                    "release failed", metadata: ["lease": "\(leaseID)", "error": "\(error)"])
            }
            // Once the scheduler counts the slot free: the first request waiting asks now.
            admission.slotFreed()
        }
    }

    /// Tells the scheduler a worker failed this request, so it checks it now rather than
    /// after a missed heartbeat. Best effort and not awaited: the request avoids the worker
    /// anyway, and its next pipeline should not wait for the scheduler's health check.
    func reportFailure(workerID: String, pipelineID: String, reason: String) {
        let scheduler = self.scheduler
        let logger = self.logger
        background.submit {
            do {
                _ = try await scheduler.reportFailure(
                    .with {
                        $0.workerID = workerID
                        $0.pipelineID = pipelineID
                        $0.reason = reason
                    }, options: .timeout(.seconds(5)))
            } catch {
                logger.debug(
                    "ReportFailure failed",
                    metadata: ["worker": "\(workerID)", "error": "\(error)"])
            }
        }
    }
}
