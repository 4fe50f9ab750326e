import Synchronization

/// What the gateway knows about how its session slots turn over, per model, to predict a new
/// request's wait (WaitPredictor): the sessions it runs now and since when (from each lease's
/// grant to its release), how long its sessions held their slots (a moving average of the
/// released leases), and how many slots the model has (the scheduler's capacity, told with
/// its refusals when every slot is in use).
///
/// It predicts nothing until it has measured `minimumSessions` sessions of the model and heard
/// its capacity: a gateway that just started queues requests as before.
final class SlotTurnover: Sendable {
    /// Released sessions of a model measured before any prediction.
    let minimumSessions: Int
    /// The weight of the newest session in the average length: recent sessions count more
    /// (clients change what they ask for), and one odd session does not swing it.
    let smoothing: Double

    private struct Running {
        let model: String
        let started: ContinuousClock.Instant
    }

    private struct ModelHistory {
        var sessions = 0
        var averageLength: Duration = .zero
        /// Sessions the model's ready pipelines serve at once, as last heard.
        var slots: Int?
    }

    private struct State {
        /// By the lease id the generation was granted.
        var running: [String: Running] = [:]
        var models: [String: ModelHistory] = [:]
    }

    private let state = Mutex(State())

    init(minimumSessions: Int = 2, smoothing: Double = 0.3) {
        self.minimumSessions = max(1, minimumSessions)
        self.smoothing = min(max(smoothing, 0.01), 1)
    }

    /// A lease was granted: its session holds a slot from `now`.
    func started(leaseID: String, model: String, now: ContinuousClock.Instant = .now) {
        guard !leaseID.isEmpty else { return }
        state.withLock { $0.running[leaseID] = Running(model: model, started: now) }
    }

    /// A lease was released: its session's length joins the model's average.
    func ended(leaseID: String, now: ContinuousClock.Instant = .now) {
        state.withLock { state in
            guard let session = state.running.removeValue(forKey: leaseID) else { return }
            let length = now - session.started
            var history = state.models[session.model, default: ModelHistory()]
            history.averageLength =
                history.sessions == 0
                ? length : history.averageLength + (length - history.averageLength) * smoothing
            history.sessions += 1
            state.models[session.model] = history
        }
    }

    /// The scheduler's capacity for the model (sessions at once over its ready pipelines).
    func noteSlots(_ slots: Int, model: String) {
        guard slots > 0 else { return }
        state.withLock { $0.models[model, default: ModelHistory()].slots = slots }
    }

    /// The predictor for a new request of `model` now; nil until enough is known.
    func predictor(model: String, now: ContinuousClock.Instant = .now) -> WaitPredictor? {
        state.withLock { state in
            guard let history = state.models[model], let slots = history.slots,
                history.sessions >= minimumSessions
            else { return nil }
            var ages: [Duration] = []
            for session in state.running.values where session.model == model {
                ages.append(now - session.started)
            }
            return WaitPredictor(
                slots: slots, sessionLength: history.averageLength, runningAges: ages)
        }
    }
}
