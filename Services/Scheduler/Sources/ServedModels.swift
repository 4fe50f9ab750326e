import Placement
import ServiceKit
import Synchronization

/// The models this scheduler serves, each with its own live pipelines and `ServingState`:
/// the default model (`--model`, always served and pinned to at least one pipeline) and
/// every model the cache-manager's catalog marks servable. Routing reads and marks it per
/// request (the fast loop); the plan loop moves models between states and plans them.
final class ServedModels: Sendable {
    struct Entry: Sendable {
        var model: ServedModel
        var marks: ServingMarks
        var isDefault: Bool
        let pipelines: LivePipelines
        var state: ServingState = .cold
        /// When a request last asked for it (nil: never).
        var lastUsed: ContinuousClock.Instant?
        /// When it last became warm (its minimum keep-alive starts there).
        var warmSince: ContinuousClock.Instant?
        /// Order of activation: among unpinned models, the earlier loaded is planned first,
        /// so loading another model never re-plans the ones already warm.
        var activation: UInt64 = 0
        var refusal: ServingRefusal?
        /// Requests since the plan loop last counted them (demand forecast, eviction ranks).
        var unreadRequests = 0
        /// Asked for while evicting: load again once evicted.
        var reloadWanted = false
        /// No longer marked servable: forgotten once its pipelines drained.
        var unserved = false
        /// Pipelines the slow loop wants for it (at least one; more with demand or a pin).
        var targetReplicas = 1
        /// Its quality budget (nil: every stage at the model's own precision).
        var quality: ServedQuality?

        var key: String { model.reference.sha256 }
        var name: String { model.reference.name.isEmpty ? key : model.reference.name }
        var pinReplicas: Int { isDefault ? max(1, marks.pinReplicas) : marks.pinReplicas }
        var isPinned: Bool { pinReplicas > 0 }
    }

    private struct State {
        var entries: [String: Entry] = [:]
        var catalogRead = false
        var nextActivation: UInt64 = 1
        /// Every model's quality budget as last read from the catalog, by SHA-256.
        var qualities: [String: ServedQuality] = [:]
        /// A budget changed since the plan loop last looked: re-plan.
        var qualityChanged = false
    }

    let defaultName: String
    /// The default model's manifest, once the plan loop loaded it.
    let defaultModel: OneShot<ServedModel>
    let defaultPipelines: LivePipelines
    /// An unpinned model's idle timeout when its marks set none (`--idle-timeout-s`).
    let defaultIdleTimeout: Duration
    /// Wakes the plan loop (a cold model was asked for, or the marks changed).
    let wake: WakeSignal
    private let state = Mutex(State())

    init(
        defaultName: String, defaultModel: OneShot<ServedModel>,
        defaultPipelines: LivePipelines, defaultIdleTimeout: Duration = .seconds(600),
        wake: WakeSignal = WakeSignal()
    ) {
        self.defaultIdleTimeout = defaultIdleTimeout
        self.defaultName = defaultName
        self.defaultModel = defaultModel
        self.defaultPipelines = defaultPipelines
        self.wake = wake
    }

    /// The served model a request names: empty or the default's name is the default model.
    func resolve(_ requested: String) throws(SchedulerError) -> Entry {
        syncDefault()
        let isDefaultName = requested.isEmpty || requested == defaultName
        let found = state.withLock { state -> Entry? in
            state.entries.values.first { entry in
                (isDefaultName && entry.isDefault) || requested == entry.model.reference.name
                    || requested == entry.model.reference.sha256
            }
        }
        if let found, !found.unserved { return found }
        if isDefaultName { throw .modelNotLoaded }
        let (read, names) = state.withLock { state in
            (state.catalogRead, state.entries.values.filter { !$0.unserved }.map(\.name).sorted())
        }
        guard read else { throw .modelNotLoaded }
        throw .modelNotServed(requested: requested, served: names.joined(separator: ", "))
    }

    /// Every served model (and those still draining after an unserve), default first.
    func entries() -> [Entry] {
        syncDefault()
        return state.withLock { state in
            state.entries.values.sorted {
                ($0.isDefault ? 0 : 1, $0.name) < ($1.isDefault ? 0 : 1, $1.name)
            }
        }
    }

    func entry(_ key: String) -> Entry? { state.withLock { $0.entries[key] } }

    /// Changes one model's entry (the plan loop's and routing's transitions).
    @discardableResult
    func update(_ key: String, _ change: (inout Entry) -> Void) -> Entry? {
        state.withLock { state -> Entry? in
            guard var entry = state.entries[key] else { return nil }
            change(&entry)
            state.entries[key] = entry
            return entry
        }
    }

    func remove(_ key: String) { state.withLock { _ = $0.entries.removeValue(forKey: key) } }

    /// A request for the model: counted (demand), and its idle time starts again.
    func noteRequest(_ key: String, now: ContinuousClock.Instant = .now) {
        update(key) {
            $0.lastUsed = now
            $0.unreadRequests += 1
        }
    }

    /// Requests per model since the last call (the demand the slow loop forecasts from).
    func takeRequests() -> [String: Int] {
        state.withLock { state in
            var counts: [String: Int] = [:]
            for key in state.entries.keys where state.entries[key]!.unreadRequests > 0 {
                counts[key] = state.entries[key]!.unreadRequests
                state.entries[key]!.unreadRequests = 0
            }
            return counts
        }
    }

    /// A request found no ready pipeline: a cold model starts loading (unless it was refused
    /// moments ago, see `ServingRefusal`), one being evicted loads again after. Returns the
    /// entry as it is now; the plan loop is woken when something changed.
    func requestLoad(_ key: String, now: ContinuousClock.Instant = .now) -> (Entry?, started: Bool)
    {
        let result = state.withLock { state -> (Entry?, Bool) in
            guard var entry = state.entries[key] else { return (nil, false) }
            var started = false
            switch entry.state {
            case .cold:
                if let refusal = entry.refusal, refusal.until > now { break }
                entry.refusal = nil
                entry.state = .loading(since: now)
                entry.activation = state.nextActivation
                state.nextActivation += 1
                started = true
            case .evicting:
                entry.reloadWanted = true
            case .loading, .warm:
                break
            }
            state.entries[key] = entry
            return (entry, started)
        }
        if result.1 { wake.signal() }
        return result
    }

    /// A pipeline of a loading model is ready: it is warm. Returns how long it loaded when
    /// this call made the change (nil when it was not loading), so the change is counted once
    /// whether routing or the plan loop saw it first.
    func becameReady(_ key: String, now: ContinuousClock.Instant = .now) -> Duration? {
        state.withLock { state -> Duration? in
            guard var entry = state.entries[key], case .loading(let since) = entry.state else {
                return nil
            }
            entry.state = .warm
            entry.warmSince = now
            state.entries[key] = entry
            return now - since
        }
    }

    /// Moves a cold model to loading (a pin, or a reload wanted after an eviction).
    func activate(_ key: String, now: ContinuousClock.Instant = .now) {
        state.withLock { state in
            guard var entry = state.entries[key], entry.state == .cold else { return }
            entry.state = .loading(since: now)
            entry.refusal = nil
            entry.reloadWanted = false
            entry.activation = state.nextActivation
            state.nextActivation += 1
            state.entries[key] = entry
        }
    }

    /// The catalog's servable models (the default excluded: it is always served). A model no
    /// longer marked is evicted and then forgotten; a new one starts cold.
    func updateCatalog(_ servable: [(model: ServedModel, marks: ServingMarks)]) {
        syncDefault()
        let changed = state.withLock { state -> Bool in
            state.catalogRead = true
            var changed = false
            var listed: Set<String> = []
            for (model, marks) in servable {
                let key = model.reference.sha256
                listed.insert(key)
                if var entry = state.entries[key] {
                    if entry.marks != marks || entry.unserved { changed = true }
                    entry.marks = marks
                    entry.unserved = false
                    state.entries[key] = entry
                } else {
                    state.entries[key] = Entry(
                        model: model, marks: marks, isDefault: false, pipelines: LivePipelines(),
                        quality: state.qualities[key])
                    changed = true
                }
            }
            for (key, var entry) in state.entries
            where !entry.isDefault && !listed.contains(key) && !entry.unserved {
                entry.unserved = true
                if entry.state.isActive { entry.state = .evicting }
                state.entries[key] = entry
                changed = true
            }
            return changed
        }
        if changed { wake.signal() }
    }

    /// One model's new marks, as ServeModel recorded them (the catalog is read again soon;
    /// this makes the change visible at once).
    func mark(_ model: ServedModel, marks: ServingMarks, servable: Bool) {
        syncDefault()
        state.withLock { state in
            let key = model.reference.sha256
            if var entry = state.entries[key] {
                entry.marks = marks
                if !entry.isDefault && !servable {
                    entry.unserved = true
                    if entry.state.isActive { entry.state = .evicting }
                } else {
                    entry.unserved = false
                }
                state.entries[key] = entry
            } else if servable {
                state.entries[key] = Entry(
                    model: model, marks: marks, isDefault: false, pipelines: LivePipelines(),
                    quality: state.qualities[key])
            }
        }
        wake.signal()
    }

    /// Marks of the default model from the catalog (an operator may pin it to more pipelines).
    func updateDefaultMarks(_ marks: ServingMarks) {
        syncDefault()
        state.withLock { state in
            for (key, var entry) in state.entries where entry.isDefault {
                entry.marks = marks
                state.entries[key] = entry
            }
        }
    }

    /// Every model's quality budget from the catalog (`tessera model budget`); a change
    /// wakes the plan loop, which re-plans the models it concerns.
    func updateQualities(_ qualities: [String: ServedQuality]) {
        syncDefault()
        let changed = state.withLock { state -> Bool in
            state.qualities = qualities
            var changed = false
            for (key, var entry) in state.entries where entry.quality != qualities[key] {
                entry.quality = qualities[key]
                state.entries[key] = entry
                changed = true
            }
            if changed { state.qualityChanged = true }
            return changed
        }
        if changed { wake.signal() }
    }

    /// Whether a budget changed since the last call.
    func takeQualityChanged() -> Bool {
        state.withLock { state in
            defer { state.qualityChanged = false }
            return state.qualityChanged
        }
    }

    /// The default model joins the table once its manifest is loaded, as loading.
    private func syncDefault() {
        guard let model = defaultModel.current else { return }
        state.withLock { state in
            guard state.entries[model.reference.sha256]?.isDefault != true else { return }
            // (If the catalog listed it before the manifest came, the default entry wins.)
            state.entries[model.reference.sha256] = Entry(
                model: model, marks: ServingMarks(pinReplicas: 1), isDefault: true,
                pipelines: defaultPipelines, state: .loading(since: .now), activation: 0,
                quality: state.qualities[model.reference.sha256])
        }
    }
}
