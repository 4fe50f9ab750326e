import GRPCCore
import Logging
import Placement
import ServiceKit
import Synchronization
import TesseraProto

/// The slow loop's pre-staging: shards put on workers' disks (the worker's `PrefetchShard`:
/// download only, nothing loaded) before they are needed, so that the re-plan after a worker
/// dies, or a cold start, reads them from disk instead of downloading.
///
/// Two kinds: for each warm model, the stages its surviving workers would host if one of its
/// workers died (the optimizer run without that worker, the same number of pipelines); and
/// for the cold models with the highest forecast demand, the stages a load now would place
/// (growth). A shard already on the worker's disk (its heartbeat's cache report, or loaded)
/// is skipped, and so is one its disk budget has no room for. A round runs in the background
/// and at most one at a time; it asks at most `maxPerRound` shards.
final class ShardPrestager: Sendable {
    struct Target: Sendable, Hashable {
        var model: String
        var workerID: String
        var layers: Range<Int>
    }

    let source: ModelSource
    let workers: ClientPool
    let logger: Logger
    let maxPerRound: Int
    private let running = Mutex(false)

    init(source: ModelSource, workers: ClientPool, logger: Logger, maxPerRound: Int = 8) {
        self.source = source
        self.workers = workers
        self.logger = logger
        self.maxPerRound = maxPerRound
    }

    /// For each worker of `plan`, the stages the others would host without it.
    static func failoverStages(
        of plan: Plan, model: ModelProfile, workers: [WorkerProfile], links: LinkModel
    ) -> [(workerID: String, layers: Range<Int>)] {
        var stages: [(workerID: String, layers: Range<Int>)] = []
        for lost in plan.usedWorkerIDs.sorted() {
            let surviving = workers.filter { $0.id != lost }
            guard
                let failover = try? Placement.solve(
                    model: model, workers: surviving, links: links,
                    options: PlacementOptions(
                        contextLength: plan.options.contextLength,
                        maxPipelines: max(1, plan.pipelines.count)))
            else { continue }
            for stage in failover.pipelines.flatMap(\.stages) {
                stages.append((stage.workerID, stage.layers))
            }
        }
        return stages
    }

    /// The stages a load of the model now would place (growth: a cold model in demand).
    static func loadStages(
        model: ModelProfile, workers: [WorkerProfile], links: LinkModel, contextLength: Int
    ) -> [(workerID: String, layers: Range<Int>)] {
        guard
            let plan = try? Placement.solve(
                model: model, workers: workers, links: links,
                options: PlacementOptions(contextLength: contextLength, maxPipelines: 1))
        else { return [] }
        return plan.pipelines.flatMap(\.stages).map { ($0.workerID, $0.layers) }
    }

    /// Starts a round in `group` unless one is under way.
    func start(
        _ targets: [(model: ServedModel, workerID: String, layers: Range<Int>)],
        workers registered: [RegisteredWorker], in group: inout DiscardingTaskGroup
    ) {
        let byID = Dictionary(registered.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        // Not when loaded there already (same model and range).
        var seen: Set<Target> = []
        var pending: [(model: ServedModel, worker: RegisteredWorker, layers: Range<Int>)] = []
        for (model, workerID, layers) in targets {
            guard let worker = byID[workerID] else { continue }
            let target = Target(model: model.reference.sha256, workerID: workerID, layers: layers)
            guard seen.insert(target).inserted else { continue }
            let loaded = worker.readyShards.contains {
                $0.model?.sha256 == model.reference.sha256 && $0.layers == layers
            }
            if !loaded { pending.append((model, worker, layers)) }
        }
        guard !pending.isEmpty else { return }
        let began = running.withLock { running -> Bool in
            if running { return false }
            running = true
            return true
        }
        guard began else { return }
        let round = Array(pending.prefix(maxPerRound))
        group.addTask {
            defer { self.running.withLock { $0 = false } }
            for (model, worker, layers) in round where !Task.isCancelled {
                await self.prefetch(model: model, worker: worker, layers: layers)
            }
        }
    }

    private func prefetch(model: ServedModel, worker: RegisteredWorker, layers: Range<Int>) async {
        do {
            let shard = try await source.shard(model: model, layers: layers)
            if let cache = worker.shardCache {
                if cache.shards.contains(where: { $0.sha256 == shard.sha256 }) { return }
                let free =
                    cache.diskBudgetBytes > cache.diskUsedBytes
                    ? cache.diskBudgetBytes - cache.diskUsedBytes : 0
                if cache.diskBudgetBytes > 0 && shard.sizeBytes > free { return }
            }
            let client = Tessera_V1_InferenceWorker.Client(
                wrapping: try workers.client(for: worker.address))
            let response = try await client.prefetchShard(
                .with {
                    $0.shard = Tessera_V1_ShardRef(shard)
                    $0.cacheManagerAddress = source.cacheManagerAddress.description
                }, options: .timeout(.seconds(300)))
            if response.downloaded {
                ServingMetrics.prestaged(
                    model: model.reference.name, bytes: Int(clamping: shard.sizeBytes))
                logger.info(
                    "shard pre-staged on disk",
                    metadata: [
                        "worker": "\(worker.id)", "model": "\(model.reference.name)",
                        "layers": "\(layers.lowerBound)-\(layers.upperBound)",
                        "seconds": "\(response.seconds)",
                    ])
            }
        } catch let error as RPCError where error.code == .unimplemented {
            // A worker from before pre-staging: nothing to do.
        } catch {
            if Task.isCancelled { return }
            logger.debug(
                "pre-staging a shard failed",
                metadata: ["worker": "\(worker.id)", "error": "\(error)"])
        }
    }
}
