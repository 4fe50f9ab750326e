import Cluster
import Foundation

/// The cluster as the dashboard shows it: the scheduler's workers and pipelines, with the
/// verifier's reputations when the gateway has a verifier.
struct ClusterOverview: Sendable {
    var workers: [WorkerOverview]
    var pipelines: [PipelineOverview]
    var reputations: ReputationAvailability
    /// Problems met while gathering it (a model whose placement could not be read, ...).
    var warnings: [String]
    var capturedAt: Date
}

/// Where a worker stands, from the dashboard's point of view.
enum WorkerState: String, Sendable {
    /// Hosts a stage of a pipeline whose stages are all loaded.
    case serving
    /// Hosts a stage whose shard is still loading.
    case loading
    /// Registered, but in no pipeline.
    case idle
    /// Its heartbeats stopped (`WorkerOverview.staleAfter`); the scheduler drops it soon.
    case stale
    /// The verifier proved faults: nothing is placed on it.
    case quarantined
}

struct WorkerOverview: Sendable {
    var id: String
    var address: String
    var capabilities: WorkerCapabilities
    var load: WorkerLoad
    var lastHeartbeat: Date
    /// Shards loaded and ready on it.
    var readyShards: Int
    /// The scheduler's view: 0...1 (1 when the verifier has not scored it).
    var schedulerReputation: Double
    var quarantined: Bool
    /// The verifier's record, when the gateway has a verifier that knows the worker.
    var reputation: WorkerReputationRecord?
    var state: WorkerState = .idle

    /// Two missed heartbeats at the scheduler's default 2 s period.
    static let staleAfter: Duration = .seconds(4)

    /// Sessions it serves at once: the latest heartbeat's count, else the registration's.
    var sessionSlots: Int {
        load.sessionSlots > 0 ? load.sessionSlots : capabilities.sessionSlots
    }
}

/// What the verifier says about one worker.
struct WorkerReputationRecord: Sendable {
    enum Trust: String, Sendable {
        case new, trusted, quarantined, unknown
    }

    var score: Double
    var trust: Trust
    var checksPassed: UInt64
    var checksFailed: UInt64
    var slashed: Bool
    var balance: Int64
}

/// Whether reputations could be shown.
enum ReputationAvailability: Sendable {
    /// The gateway runs without `--verifier`.
    case notConfigured
    case available
    case unreachable(String)
}

struct PipelineOverview: Sendable {
    struct Stage: Sendable {
        var workerID: String
        var address: String
        var layers: Range<Int>?
        var ready: Bool
        var predictedMsPerToken: Double?
    }

    var id: String
    var model: ModelReference
    /// The model's transformer layers, when the cache-manager said.
    var modelLayers: Int?
    var stages: [Stage]
    var predictedMsPerToken: Double?
    var activeRequests: Int
    var draining: Bool
    var contextLength: Int?

    /// Takes requests: not draining, every stage loaded.
    var ready: Bool { !draining && !stages.isEmpty && stages.allSatisfy(\.ready) }
}

extension ClusterOverview {
    /// Gives each worker its state from the pipelines it is in, its heartbeat age and the
    /// verifier's verdict.
    mutating func deriveWorkerStates(now: Date) {
        var serving: Set<String> = []
        var loading: Set<String> = []
        for pipeline in pipelines where !pipeline.draining {
            for stage in pipeline.stages {
                if stage.ready && pipeline.ready {
                    serving.insert(stage.workerID)
                } else if !stage.ready {
                    loading.insert(stage.workerID)
                }
            }
        }
        let staleAfter = Double(WorkerOverview.staleAfter.components.seconds)
        for index in workers.indices {
            let worker = workers[index]
            let state: WorkerState
            if worker.quarantined || worker.reputation?.trust == .quarantined {
                state = .quarantined
            } else if now.timeIntervalSince(worker.lastHeartbeat) > staleAfter {
                state = .stale
            } else if serving.contains(worker.id) {
                state = .serving
            } else if loading.contains(worker.id) {
                state = .loading
            } else {
                state = .idle
            }
            workers[index].state = state
        }
    }
}
