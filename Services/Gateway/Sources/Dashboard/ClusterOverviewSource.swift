import Foundation
import GRPCCore
import ServiceKit
import Synchronization
import TesseraProto

/// Gathers the cluster overview from the scheduler (workers, and each model's pipelines),
/// the cache-manager (which models there are, their layer counts) and the verifier
/// (reputations, when configured). An overview younger than `maxAge` is reused, so any
/// number of open dashboards costs the scheduler about one round of calls per `maxAge`.
final class ClusterOverviewSource: Sendable {
    typealias Scheduler = Tessera_V1_Scheduler.Client<TesseraClientTransport>
    typealias CacheManager = Tessera_V1_CacheManager.Client<TesseraClientTransport>
    typealias Verifier = Tessera_V1_Verifier.Client<TesseraClientTransport>

    let scheduler: Scheduler
    let cacheManager: CacheManager
    let verifier: Verifier?
    let maxAge: Duration
    /// Each call's deadline: a page polls again soon, so none waits long.
    let callTimeout: Duration
    private let latest = Mutex<(at: ContinuousClock.Instant, overview: ClusterOverview)?>(nil)

    init(
        scheduler: Scheduler, cacheManager: CacheManager, verifier: Verifier?,
        maxAge: Duration = .milliseconds(750), callTimeout: Duration = .seconds(3)
    ) {
        self.scheduler = scheduler
        self.cacheManager = cacheManager
        self.verifier = verifier
        self.maxAge = maxAge
        self.callTimeout = callTimeout
    }

    /// Throws `GatewayError.unavailable` when the scheduler does not answer; the other
    /// services' silence becomes a warning in the overview.
    func overview() async throws -> ClusterOverview {
        let now = ContinuousClock.now
        if let cached = latest.withLock({ $0 }), now - cached.at < maxAge { return cached.overview }
        let overview = try await gather()
        latest.withLock { $0 = (now, overview) }
        return overview
    }

    private func gather() async throws -> ClusterOverview {
        let options = CallOptions.timeout(callTimeout)
        let workers: [Tessera_V1_WorkerInfo]
        do {
            workers = try await scheduler.listWorkers(.init(), options: options).workers
        } catch let error as RPCError {
            throw GatewayError(
                .unavailable,
                "the scheduler does not answer ListWorkers: \(error.code): \(error.message)")
        }
        var warnings: [String] = []
        var overview = ClusterOverview(
            workers: workers.map(WorkerOverview.init), pipelines: [],
            reputations: .notConfigured, warnings: [], capturedAt: Date())
        overview.pipelines = await pipelines(warnings: &warnings)
        overview.reputations = await addReputations(to: &overview.workers)
        overview.warnings = warnings
        overview.deriveWorkerStates(now: overview.capturedAt)
        return overview
    }

    /// Every model's pipelines; the default model's alone when the cache-manager cannot list
    /// models.
    private func pipelines(warnings: inout [String]) async -> [PipelineOverview] {
        let options = CallOptions.timeout(callTimeout)
        var models: [(query: String, model: Tessera_V1_ModelManifest?)] = []
        do {
            let manifests = try await cacheManager.listModels(.init(), options: options).models
            models = manifests.map { ($0.model.sha256, $0) }
        } catch {
            warnings.append(
                "the cache-manager does not list models (\(Self.describe(error))); showing the default model"
            )
            models = [("", nil)]
        }
        var result: [PipelineOverview] = []
        for (query, manifest) in models {
            do {
                let placement = try await scheduler.getPlacement(
                    .with { $0.model = query }, options: options)
                let layers = manifest.map { Int($0.layerCount) }
                for wire in placement.pipelines {
                    var pipeline = PipelineOverview(wire, modelLayers: layers)
                    if pipeline.model.sha256.isEmpty, let manifest {
                        pipeline.model = manifest.model.domain
                    }
                    result.append(pipeline)
                }
            } catch {
                let name = manifest?.model.name ?? "the default model"
                warnings.append("no placement for \(name): \(Self.describe(error))")
            }
        }
        return result
    }

    /// Attaches the verifier's reputations to the workers it knows.
    private func addReputations(to workers: inout [WorkerOverview]) async
        -> ReputationAvailability
    {
        guard let verifier else { return .notConfigured }
        do {
            let response = try await verifier.listReputations(
                .init(), options: .timeout(callTimeout))
            var byWorker: [String: WorkerReputationRecord] = [:]
            for wire in response.reputations {
                byWorker[wire.workerID] = WorkerReputationRecord(wire)
            }
            for index in workers.indices {
                workers[index].reputation = byWorker[workers[index].id]
            }
            return .available
        } catch {
            return .unreachable(Self.describe(error))
        }
    }

    private static func describe(_ error: any Error) -> String {
        if let error = error as? RPCError { return "\(error.code): \(error.message)" }
        return "\(error)"
    }
}
