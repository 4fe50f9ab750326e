import ServiceKit

/// What the scheduler refuses, in its own terms. `SchedulerError+GRPC.swift` gives each
/// case its status; the message is the description.
enum SchedulerError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The cache-manager has not given us the model's manifest yet.
    case modelNotLoaded
    case modelNotServed(requested: String, served: String)
    /// Every pipeline is loading shards, draining, or avoided by the request.
    case noReadyPipeline(model: String, workers: Int)
    /// Ready pipelines exist, but each has a worker whose session slots are all in use.
    case atCapacity(model: String, saturation: LivePipelines.Saturation)
    /// The cache-manager's manifest lacks what the optimizer plans with.
    case manifestWithoutCosts(model: String)
    /// A heartbeat from a worker the registry does not know (it expired, or we restarted).
    case unknownWorker(String)
    /// A registration claims an id that a live worker at another address holds (two workers
    /// started with the same `--worker-id`, or one state directory copied to two machines).
    case workerIDInUse(id: String, address: ListenAddress, heartbeatAge: Duration)
    /// A registration's key is not the one its id is pinned to (see `WorkerRegistry`).
    case keyMismatch(id: String, pinnedKey: [UInt8])
    /// RemoveWorker of an id that is neither registered nor pinned.
    case noSuchWorker(String)
    /// A cold start under way: the model's shards are being placed and loaded.
    case modelLoading(model: String, waited: Duration)
    /// Asked for while its pipelines drain; it loads again once they are gone.
    case modelEvicting(model: String)
    /// The model cannot be loaded now: nothing can make room (or its load failed).
    case noRoom(model: String, reason: String, retryAfter: Duration)
    /// ServeModel of a model that fits on no set of the registered workers.
    case doesNotFit(model: String, reason: String)
    /// ServeModel asked to stop serving the scheduler's own `--model`.
    case defaultModelAlwaysServed(model: String)

    var description: String {
        switch self {
        case .modelNotLoaded: "the model manifest is not loaded yet; retry shortly"
        case .modelNotServed(let requested, let served):
            "model '\(requested)' is not served here; this scheduler serves '\(served)'"
        case .noReadyPipeline(let model, let workers):
            "no ready pipeline for \(model) (workers: \(workers)); shards may still be loading"
        case .atCapacity(let model, let saturation):
            "every session slot of the ready pipelines for \(model) is in use: "
                + "\(saturation.running) sessions running, "
                + (saturation.capacity.map { "capacity \($0)" } ?? "capacity not limited")
                + " (the workers' --max-sessions, or what their memory holds); "
                + "retry in about \(Int(saturation.retryAfter.inSeconds.rounded(.up))) s"
        case .manifestWithoutCosts(let model): "manifest of \(model) has no per-layer costs"
        case .unknownWorker(let id): "unknown worker '\(id)': register again"
        case .workerIDInUse(let id, let address, let age):
            "worker id \(id) is registered from \(address) and sent a heartbeat "
                + "\((age.inSeconds * 10).rounded() / 10) s ago; "
                + "stop the other worker or choose another --worker-id"
        case .keyMismatch(let id, let pinned):
            "worker id \(id) is pinned to key \(Self.hexPrefix(pinned)), the key it first "
                + "registered with, and this worker signs with another key; if the worker "
                + "that had the id is gone for good, remove it with `tessera worker remove \(id)`"
        case .noSuchWorker(let id): "no worker '\(id)' is registered or pinned here"
        case .modelLoading(let model, let waited):
            "no ready pipeline for \(model) yet: it is loading (cold start, "
                + "\((waited.inSeconds * 10).rounded() / 10) s so far)"
        case .modelEvicting(let model):
            "\(model) is being evicted; it loads again once its pipelines drained"
        case .noRoom(let model, let reason, let retryAfter):
            "model \(model) cannot be loaded now: \(reason); "
                + "retry in about \(Int(retryAfter.inSeconds.rounded(.up))) s"
        case .doesNotFit(let model, let reason):
            "model \(model) fits on no set of the registered workers, so it is not marked "
                + "servable: \(reason)"
        case .defaultModelAlwaysServed(let model):
            "\(model) is this scheduler's --model: it is always served"
        }
    }

    /// The first 16 hex digits of a key: enough to tell keys apart in a message.
    private static func hexPrefix(_ key: [UInt8]) -> String {
        let digits = Array("0123456789abcdef")
        return String(key.prefix(8).flatMap { [digits[Int($0 >> 4)], digits[Int($0 & 0x0f)]] })
    }
}
