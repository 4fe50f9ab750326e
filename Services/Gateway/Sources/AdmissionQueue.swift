import ServiceKit
import Synchronization

/// Requests the cluster has no session slot for (the scheduler answered RESOURCE_EXHAUSTED)
/// wait here instead of being refused at once: in turns across API keys (tenants), first
/// come first served within a key, so one key that queues many requests cannot starve the
/// others (each key's k-th waiting request goes ahead of every key's k+1-th; see `join`).
/// Only the request at the head asks the scheduler again: when a lease this gateway held was
/// released (`slotFreed`), when the request before it was admitted or left, and otherwise
/// every so often (slots also free at other gateways, and when unrenewed leases expire). A
/// new request does not overtake those waiting: while any wait, it takes its turn without
/// asking. Beyond `maxQueued` waiting requests, a new one is refused (HTTP 429 / gRPC
/// RESOURCE_EXHAUSTED with a retry hint); none waits past its deadline (`maxWait`, or the
/// gRPC client's own), and one whose client leaves (its task cancelled) leaves the queue.
/// A new request whose predicted wait (WaitPredictor, given the requests of its model ahead
/// of its place) is longer than its deadline allows is refused as it arrives, with the
/// prediction as its retry hint, rather than held until the deadline passes.
///
/// A running generation that lost its pipeline (failover) is not new work: it joins ahead of
/// every new request and is never refused for a full queue; its wait is bounded by the
/// pipeline wait limit instead.
final class AdmissionQueue: Sendable {
    struct Limits: Sendable {
        /// New requests that may wait at once; one more is refused. 0: none waits.
        var maxQueued = 64
        /// The longest a new request waits for a slot.
        var maxWait: Duration = .seconds(30)
        /// Refuse at once a new request whose predicted wait outlasts its deadline.
        var refuseEarly = true
    }

    enum Priority: Sendable, Equatable {
        case newRequest
        /// A running generation leasing another pipeline after a stage failed.
        case failover
    }

    /// Where a waiting request stands.
    enum Turn: Sendable, Equatable {
        /// Behind others, or at the head with nothing new since it last asked.
        case waiting
        /// At the head, with news (a slot freed, or the request before it left): ask now.
        case called
    }

    /// When a wait ends, and what the error then says.
    struct Deadline: Sendable {
        enum Reason: Sendable, Equatable {
            /// The gateway's --max-queue-wait-s.
            case queueWait(Duration)
            /// The gateway's --pipeline-wait-ms (a failover's wait).
            case pipelineWait(Duration)
            /// The gRPC client's own deadline (`grpc-timeout`).
            case client(Duration)
        }
        var instant: ContinuousClock.Instant
        var reason: Reason
    }

    /// A request's place in the queue, from `join` until `leave`.
    struct Place: Sendable {
        let id: UInt64
        let priority: Priority
        let joined: ContinuousClock.Instant
        let deadline: Deadline
        fileprivate let signal: WakeSignal
    }

    private struct Waiter {
        let id: UInt64
        let priority: Priority
        let signal: WakeSignal
        var turn: Turn
        /// The API key it came with (nil: the anonymous tenant, as with auth off).
        let tenant: String?
        /// Its turn among the tenants: new requests wait in (round, id) order.
        let round: UInt64
        /// The model it waits for a slot of (nil: not said), for predicting the waits of those
        /// behind it.
        let model: String?
    }

    private struct State {
        /// Failovers first, in the order they came; then new requests by (round, id).
        var waiters: [Waiter] = []
        var nextID: UInt64 = 0
        /// The round of the last new request admitted from the queue.
        var servedRound: UInt64 = 0
        /// The scheduler's latest hint of when a slot may free.
        var retryHint: Duration = .seconds(1)
    }

    let limits: Limits
    /// How often the head asks again when nothing woke it: from `poll.initial` growing to
    /// `poll.maximum` while it stays refused.
    let poll: Backoff
    private let state = Mutex(State())

    init(
        limits: Limits = Limits(),
        poll: Backoff = Backoff(initial: .milliseconds(100), maximum: .seconds(1))
    ) {
        self.limits = limits
        self.poll = poll
    }

    /// Whether any request waits now (a new request then joins the back without asking).
    var hasWaiters: Bool { state.withLock { !$0.waiters.isEmpty } }
    /// Requests waiting now (failovers included).
    var count: Int { state.withLock { $0.waiters.count } }
    /// What a refusal tells the client about when to come back.
    var retryHint: Duration { state.withLock { $0.retryHint } }

    /// Keeps the scheduler's hint (milliseconds, its RESOURCE_EXHAUSTED's pushback).
    func noteRetryHint(milliseconds: Int?) {
        guard let milliseconds, milliseconds > 0 else { return }
        state.withLock { $0.retryHint = .milliseconds(milliseconds) }
    }

    /// Takes a place: a failover behind the other failovers; a new request in its tenant's
    /// next round (one after its tenant's last waiting request, or the round being served
    /// when its tenant has none waiting), behind the requests already in that round.
    /// `asked`: it was just refused by the scheduler (so it waits for news before asking
    /// again); otherwise, at the head, it asks at once. Throws `queueFull` when `maxQueued`
    /// new requests already wait, and `predictedWaitTooLong` when a new request's `predictor`
    /// (for its `model`) says the wait at the place it would take outlasts its deadline.
    func join(
        priority: Priority, deadline: Deadline, asked: Bool, tenant: String? = nil,
        model: String? = nil, predictor: WaitPredictor? = nil
    ) throws(GatewayError) -> Place {
        let signal = WakeSignal()
        let joined = ContinuousClock.now
        var predicted: Duration?
        let outcome: Result<Place, GatewayError> = state.withLock { state in
            let waitingNew = state.waiters.count(where: { $0.priority == .newRequest })
            if priority == .newRequest && waitingNew >= limits.maxQueued {
                return .failure(Self.queueFull(waiting: waitingNew, hint: state.retryHint))
            }
            state.nextID += 1
            var round = state.servedRound
            for waiter in state.waiters
            where waiter.priority == .newRequest && waiter.tenant == tenant {
                round = max(round, waiter.round + 1)
            }
            let index =
                priority == .failover
                ? state.waiters.firstIndex { $0.priority == .newRequest } ?? state.waiters.endIndex
                : state.waiters.firstIndex { $0.priority == .newRequest && $0.round > round }
                    ?? state.waiters.endIndex
            // Failovers are never refused early: they are not new work.
            if priority == .newRequest, limits.refuseEarly, let predictor {
                let ahead = state.waiters[..<index].count(where: { $0.model == model })
                predicted = predictor.wait(ahead: ahead)
                if let wait = predicted, Self.outlasts(wait, deadline, now: joined) {
                    return .failure(
                        Self.predictedWaitTooLong(
                            wait, ahead: ahead, predictor: predictor, deadline: deadline))
                }
            }
            var turn: Turn = index == 0 && !asked ? .called : .waiting
            // A failover put before the head takes over a call the head had not answered yet.
            if index == 0, !state.waiters.isEmpty, state.waiters[0].turn == .called {
                state.waiters[0].turn = .waiting
                turn = .called
            }
            state.waiters.insert(
                Waiter(
                    id: state.nextID, priority: priority, signal: signal, turn: turn,
                    tenant: tenant, round: round, model: model), at: index)
            return .success(
                Place(
                    id: state.nextID, priority: priority, joined: joined, deadline: deadline,
                    signal: signal))
        }
        if let predicted { GatewayMetrics.admissionPredictedWait(predicted) }
        switch outcome {
        case .success(let place):
            GatewayMetrics.admissionQueueLength.increment()
            return place
        case .failure(let refusal):
            GatewayMetrics.admissionRejected(
                reason: refusal.kind == .predictedWaitTooLong ? "predicted_wait" : "queue_full")
            throw refusal
        }
    }

    /// Returns when `place` may ask the scheduler: it is at the head and was called, or its
    /// poll period ran out. Throws at its deadline (the error names which), and
    /// `CancellationError` when its client left.
    func waitForTurn(_ place: Place, backoff: inout Backoff) async throws {
        var pollAt: ContinuousClock.Instant?
        while true {
            try Task.checkCancellation()
            let now = ContinuousClock.now
            guard now < place.deadline.instant else {
                throw expired(place, waited: now - place.joined)
            }
            let (isHead, called) = state.withLock { state -> (Bool, Bool) in
                guard state.waiters.first?.id == place.id else { return (false, false) }
                guard state.waiters[0].turn == .called else { return (true, false) }
                state.waiters[0].turn = .waiting
                return (true, true)
            }
            if called { return }
            if isHead {
                if let pollAt, now >= pollAt { return }
                if pollAt == nil { pollAt = now + backoff.next() }
            } else {
                pollAt = nil
            }
            let until = min(pollAt ?? place.deadline.instant, place.deadline.instant)
            await place.signal.wait(upTo: until - now)
        }
    }

    /// Gives the place up (admitted, refused, timed out or cancelled); a new head is called.
    func leave(_ place: Place, admitted: Bool) {
        let (removed, next) = state.withLock { state -> (Bool, WakeSignal?) in
            guard let index = state.waiters.firstIndex(where: { $0.id == place.id }) else {
                return (false, nil)
            }
            let left = state.waiters.remove(at: index)
            if admitted && left.priority == .newRequest {
                state.servedRound = max(state.servedRound, left.round)
            }
            guard index == 0, !state.waiters.isEmpty else { return (true, nil) }
            state.waiters[0].turn = .called
            return (true, state.waiters[0].signal)
        }
        guard removed else { return }
        next?.signal()
        GatewayMetrics.admissionQueueLength.decrement()
        GatewayMetrics.admissionWait(
            ContinuousClock.now - place.joined, outcome: admitted ? "admitted" : "left")
    }

    /// A lease this gateway held was released at the scheduler: the head asks now.
    func slotFreed() {
        let head = state.withLock { state -> WakeSignal? in
            guard !state.waiters.isEmpty else { return nil }
            state.waiters[0].turn = .called
            return state.waiters[0].signal
        }
        head?.signal()
    }

    // MARK: Refusals

    /// "2.5 s": a duration as the messages say it.
    static func seconds(_ duration: Duration) -> String {
        "\((duration.inSeconds * 10).rounded() / 10) s"
    }

    private static func queueFull(waiting: Int, hint: Duration) -> GatewayError {
        GatewayError(
            .queueFull,
            "the cluster is serving all the sessions it has slots for and \(waiting) requests "
                + "already wait for one (the gateway's --max-queued); retry later",
            retryAfter: hint)
    }

    private func expired(_ place: Place, waited: Duration) -> GatewayError {
        let seconds = Self.seconds(waited)
        let hint = retryHint
        switch place.deadline.reason {
        case .queueWait(let limit):
            GatewayMetrics.admissionRejected(reason: "queue_timeout")
            return GatewayError(
                .queueTimeout,
                "no session slot freed while the request waited \(seconds) in the gateway's queue "
                    + "(its --max-queue-wait-s: \(Self.seconds(limit))): the cluster is at "
                    + "capacity; retry later",
                retryAfter: hint)
        case .pipelineWait(let limit):
            GatewayMetrics.admissionRejected(reason: "failover_timeout")
            return GatewayError(
                .unavailable,
                "the generation lost its pipeline and no session slot freed on another within "
                    + "\(Self.seconds(limit)) (the gateway's --pipeline-wait-ms)",
                retryAfter: hint)
        case .client(let timeout):
            GatewayMetrics.admissionRejected(reason: "client_deadline")
            return GatewayError(
                .deadlineExceeded,
                "the request's own deadline (grpc-timeout \(Self.seconds(timeout))) ran out after \(seconds) "
                    + "waiting in the gateway's queue for a session slot: the cluster is at capacity"
            )
        }
    }
}
