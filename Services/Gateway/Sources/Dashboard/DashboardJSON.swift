import Foundation

// The dashboard API's JSON (docs/dashboard.md): the overviews become these documents only
// here. Keys are snake_case (OpenAIJSON's encoder); a value that is unknown is null, never
// left out, so every documented key is always present.

/// Encodes as its value, or null.
struct Nullable<Value: Encodable & Sendable>: Encodable, Sendable {
    var value: Value?

    init(_ value: Value?) { self.value = value }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        if let value { try container.encode(value) } else { try container.encodeNil() }
    }
}

enum DashboardJSON {
    struct Cluster: Encodable, Sendable {
        var capturedAtUnixMs: Int64
        var workers: [Worker]
        var pipelines: [Pipeline]
        var reputations: Reputations
        var warnings: [String]
    }

    struct Worker: Encodable, Sendable {
        var id: String
        var address: String
        var state: String
        var memoryBytes: UInt64
        var memoryUsedBytes: UInt64
        var cpuCount: Int
        var computeGflops: Double
        var memoryBandwidthGbps: Double
        var decodeGbps: Double
        var activeSessions: Int
        var sessionSlots: Int
        var cpuUtilization: Double
        var lastHeartbeatAgeS: Double
        var readyShards: Int
        var schedulerReputation: Double
        var reputation: Nullable<Reputation>
    }

    struct Reputation: Encodable, Sendable {
        var score: Double
        var trust: String
        var checksPassed: UInt64
        var checksFailed: UInt64
        var slashed: Bool
        var balance: Int64
    }

    struct Reputations: Encodable, Sendable {
        /// available, not_configured or unreachable.
        var status: String
        var error: Nullable<String>
    }

    struct Pipeline: Encodable, Sendable {
        var id: String
        var model: String
        var modelSha256: String
        var modelLayers: Nullable<Int>
        var ready: Bool
        var draining: Bool
        var activeRequests: Int
        var predictedMsPerToken: Nullable<Double>
        var contextLength: Nullable<Int>
        var stages: [Stage]
    }

    struct Stage: Encodable, Sendable {
        var workerId: String
        var address: String
        /// The stage's layers, `[first_layer, end_layer)`.
        var firstLayer: Nullable<Int>
        var endLayer: Nullable<Int>
        var ready: Bool
        var predictedMsPerToken: Nullable<Double>
    }

    struct Activity: Encodable, Sendable {
        var capturedAtUnixMs: Int64
        var queue: Queue
        var throughput: [Sample]
        var recentRequests: [Request]
    }

    struct Queue: Encodable, Sendable {
        var waiting: Int
        var maxQueued: Int
        var activeGenerations: Int
        var waitingForPipeline: Int
    }

    struct Sample: Encodable, Sendable {
        var unixS: Int64
        var tokens: Int
        var firstTokens: Int
        var meanTtftMs: Nullable<Double>
        var finished: Int
    }

    struct Request: Encodable, Sendable {
        var id: String
        var model: String
        var promptTokens: Int
        var completionTokens: Int
        var ttftMs: Nullable<Double>
        var durationMs: Double
        /// stop, length, cancelled or failed.
        var status: String
        /// The failure's kind and what it said, when status is failed.
        var error: Nullable<String>
        var errorMessage: Nullable<String>
        var failovers: Int
        var receiptId: Nullable<String>
        var finishedAtUnixMs: Int64
    }
}

extension DashboardJSON.Cluster {
    init(_ overview: ClusterOverview) {
        self.init(
            capturedAtUnixMs: unixMilliseconds(overview.capturedAt),
            workers: overview.workers.map { DashboardJSON.Worker($0, now: overview.capturedAt) },
            pipelines: overview.pipelines.map(DashboardJSON.Pipeline.init),
            reputations: DashboardJSON.Reputations(overview.reputations),
            warnings: overview.warnings)
    }
}

extension DashboardJSON.Worker {
    init(_ worker: WorkerOverview, now: Date) {
        self.init(
            id: worker.id, address: worker.address, state: worker.state.rawValue,
            memoryBytes: worker.capabilities.memoryBytes,
            memoryUsedBytes: worker.load.memoryUsedBytes, cpuCount: worker.capabilities.cpuCount,
            computeGflops: worker.capabilities.computeGflops,
            memoryBandwidthGbps: worker.capabilities.memoryBandwidthGbps,
            decodeGbps: worker.capabilities.decodeGbps,
            activeSessions: worker.load.activeSessions, sessionSlots: worker.sessionSlots,
            cpuUtilization: worker.load.cpuUtilization,
            lastHeartbeatAgeS: max(0, now.timeIntervalSince(worker.lastHeartbeat)),
            readyShards: worker.readyShards, schedulerReputation: worker.schedulerReputation,
            reputation: Nullable(worker.reputation.map(DashboardJSON.Reputation.init)))
    }
}

extension DashboardJSON.Reputation {
    init(_ record: WorkerReputationRecord) {
        self.init(
            score: record.score, trust: record.trust.rawValue, checksPassed: record.checksPassed,
            checksFailed: record.checksFailed, slashed: record.slashed, balance: record.balance)
    }
}

extension DashboardJSON.Reputations {
    init(_ availability: ReputationAvailability) {
        switch availability {
        case .notConfigured: self.init(status: "not_configured", error: Nullable(nil))
        case .available: self.init(status: "available", error: Nullable(nil))
        case .unreachable(let error): self.init(status: "unreachable", error: Nullable(error))
        }
    }
}

extension DashboardJSON.Pipeline {
    init(_ pipeline: PipelineOverview) {
        self.init(
            id: pipeline.id, model: pipeline.model.name, modelSha256: pipeline.model.sha256,
            modelLayers: Nullable(pipeline.modelLayers), ready: pipeline.ready,
            draining: pipeline.draining, activeRequests: pipeline.activeRequests,
            predictedMsPerToken: Nullable(pipeline.predictedMsPerToken),
            contextLength: Nullable(pipeline.contextLength),
            stages: pipeline.stages.map {
                DashboardJSON.Stage(
                    workerId: $0.workerID, address: $0.address,
                    firstLayer: Nullable($0.layers?.lowerBound),
                    endLayer: Nullable($0.layers?.upperBound), ready: $0.ready,
                    predictedMsPerToken: Nullable($0.predictedMsPerToken))
            })
    }
}

extension DashboardJSON.Activity {
    init(_ overview: ActivityOverview) {
        self.init(
            capturedAtUnixMs: unixMilliseconds(overview.capturedAt),
            queue: DashboardJSON.Queue(
                waiting: overview.queued, maxQueued: overview.maxQueued,
                activeGenerations: overview.activeGenerations,
                waitingForPipeline: overview.waitingForPipeline),
            throughput: overview.throughput.map {
                DashboardJSON.Sample(
                    unixS: $0.second, tokens: $0.tokens, firstTokens: $0.firstTokens,
                    meanTtftMs: Nullable($0.meanTimeToFirstToken.map(milliseconds)),
                    finished: $0.finished)
            },
            recentRequests: overview.recentRequests.map(DashboardJSON.Request.init))
    }
}

extension DashboardJSON.Request {
    init(_ request: CompletedRequest) {
        let status: String
        var error: String?
        var message: String?
        switch request.outcome {
        case .finished(.stop): status = "stop"
        case .finished(.length): status = "length"
        case .cancelled: status = "cancelled"
        case .failed(let kind, let what):
            status = "failed"
            error = "\(kind)"
            message = what
        }
        self.init(
            id: request.requestID, model: request.model, promptTokens: request.promptTokens,
            completionTokens: request.completionTokens,
            ttftMs: Nullable(request.timeToFirstToken.map(milliseconds)),
            durationMs: milliseconds(request.duration), status: status, error: Nullable(error),
            errorMessage: Nullable(message),
            failovers: request.failovers, receiptId: Nullable(request.receiptID),
            finishedAtUnixMs: unixMilliseconds(request.finishedAt))
    }
}

private func milliseconds(_ duration: Duration) -> Double {
    duration.inSeconds * 1000
}

private func unixMilliseconds(_ date: Date) -> Int64 {
    Int64((date.timeIntervalSince1970 * 1000).rounded())
}
