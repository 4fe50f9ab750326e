import GRPCCore
import Logging
import Placement
import ServiceKit
import TesseraProto

/// `ServeModel`: the operator marks a catalog model servable (or not). The scheduler is the
/// one that knows the workers, so it checks here that the model fits on some set of them
/// (each worker's whole budget, as if nothing else were loaded: room is made at load time by
/// evicting idle models) and refuses with FAILED_PRECONDITION and the optimizer's reason when
/// it does not; only then does it record the marks in the cache-manager's catalog.
struct ServingMarker: Sendable {
    let cacheManager: Tessera_V1_CacheManager.Client<TesseraClientTransport>
    let registry: WorkerRegistry
    let models: ServedModels
    let settings: PlanSettings
    let logger: Logger

    static let maxPinReplicas: UInt32 = 64
    static let maxIdleTimeoutSeconds: UInt32 = 7 * 24 * 3600

    func serve(_ request: Tessera_V1_ServeModelRequest) async throws -> ServedModel {
        guard !request.model.isEmpty else { throw InvalidMessage("model", "is required") }
        guard request.pinReplicas <= Self.maxPinReplicas else {
            throw InvalidMessage(
                "pin_replicas", "must be at most \(Self.maxPinReplicas), got \(request.pinReplicas)"
            )
        }
        guard request.idleTimeoutS <= Self.maxIdleTimeoutSeconds else {
            throw InvalidMessage(
                "idle_timeout_s",
                "must be at most \(Self.maxIdleTimeoutSeconds) (a week), got \(request.idleTimeoutS)"
            )
        }
        let manifest = try await cacheManager.getModel(
            .with { $0.model = request.model }, options: .timeout(.seconds(30)))
        let model = ServedModel(manifest)
        let name = model.reference.name.isEmpty ? model.reference.sha256 : model.reference.name
        let isDefault = models.defaultModel.current?.reference.sha256 == model.reference.sha256
        if isDefault && !request.servable {
            throw SchedulerError.defaultModelAlwaysServed(model: name)
        }
        if request.servable {
            guard manifest.layerCount > 0, manifest.layers.count == Int(manifest.layerCount) else {
                throw SchedulerError.manifestWithoutCosts(model: name)
            }
            try checkFits(
                model, name: name, pin: Int(request.pinReplicas),
                quality: try await quality(of: manifest))
        }
        let marks = Tessera_V1_ServingMarks.with {
            $0.servable = request.servable
            $0.pinReplicas = request.pinReplicas
            $0.idleTimeoutS = request.idleTimeoutS
        }
        _ = try await cacheManager.setServing(
            .with {
                $0.model = model.reference.sha256
                $0.marks = marks
            }, options: .timeout(.seconds(10)))
        models.mark(model, marks: ServingMarks(marks), servable: request.servable)
        logger.info(
            request.servable ? "model marked servable" : "model no longer servable",
            metadata: [
                "model": "\(name)", "pin_replicas": "\(request.pinReplicas)",
                "idle_timeout_s": "\(request.idleTimeoutS)",
            ])
        return model
    }

    /// The model's quality budget with its variants' costs from the catalog, as the plan
    /// loop will place it (nil without a budget): a model that fits only when some stages
    /// run a variant is servable.
    private func quality(of manifest: Tessera_V1_ModelManifest) async throws -> QualityBudget? {
        guard manifest.hasQualityBudget else { return nil }
        let catalog = try await cacheManager.listModels(.init(), options: .timeout(.seconds(10)))
            .models
        return ServedQuality(manifest, catalog: catalog)?.budget
    }

    /// The optimizer's answer for the model alone on every placeable worker.
    private func checkFits(
        _ model: ServedModel, name: String, pin: Int, quality: QualityBudget?
    ) throws {
        let workers = registry.workers().filter { !$0.quarantined }
        guard !workers.isEmpty else {
            throw SchedulerError.doesNotFit(
                model: name, reason: "no worker is registered yet to place it on")
        }
        let profiles = workers.map {
            WorkerProfiles.profile($0, slowdown: 1, expectedSessions: settings.sessionsPerWorker)
        }
        let plan: Plan
        do {
            plan = try Placement.solve(
                model: model.profile, workers: profiles, links: settings.links,
                options: PlacementOptions(
                    contextLength: settings.contextLength, maxPipelines: max(1, pin)),
                quality: quality)
        } catch {
            throw SchedulerError.doesNotFit(model: name, reason: "\(error)")
        }
        if plan.pipelines.count < pin {
            throw SchedulerError.doesNotFit(
                model: name,
                reason: "only \(plan.pipelines.count) pipeline(s) fit, and --pin asks for \(pin)")
        }
    }
}
