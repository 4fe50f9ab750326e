import Placement

/// Plans several models over workers whose memory they share: each model in priority order
/// over the memory the earlier ones left (the existing optimizer, run with each worker's
/// budget reduced by what is already taken). Not a joint optimum: a model earlier in the
/// order never gives up memory to a later one, which keeps warm models where they are when
/// another one loads.
struct SharedMemoryPlanner {
    struct Demand: Sendable {
        var key: String
        var profile: ModelProfile
        /// The model's quality budget: stages may run its variants (nil: none).
        var quality: QualityBudget? = nil
        var maxPipelines: Int
        /// The model's plan now: kept (its first `maxPipelines` pipelines) when it still fits
        /// in what is left and a new one is not clearly better (`PlanAdoption`), so that
        /// loading or evicting another model does not move this one.
        var current: Plan? = nil
    }

    var links: LinkModel
    var contextLength: Int
    /// A replica is planned only while predicted within this × the primary's time per token.
    var replicaLatencyFactor: Double
    var adoption = PlanAdoption(minimumGain: 0.2)

    /// Each model's plan, or the error that says why it fits nowhere in what was left.
    /// `reserved`: bytes per worker held by pipelines outside this plan (draining ones, models
    /// being evicted).
    func plan(_ demands: [Demand], workers: [WorkerProfile], reserved: [String: Int]) -> [(
        key: String, result: Result<Plan, any Error>
    )] {
        var used = reserved
        var results: [(key: String, result: Result<Plan, any Error>)] = []
        for demand in demands {
            let left = Self.remaining(workers, used: used)
            do {
                let kept = demand.current.flatMap {
                    keepable($0, demand: demand, left: left)
                }
                var plan: Plan
                do {
                    plan = try Placement.solve(
                        model: demand.profile, workers: left, links: links,
                        options: PlacementOptions(
                            contextLength: contextLength, maxPipelines: max(1, demand.maxPipelines),
                            replicaLatencyFactor: replicaLatencyFactor),
                        quality: demand.quality)
                    if let kept, !adoption.worthAdopting(plan, over: kept) { plan = kept }
                } catch {
                    guard let kept else { throw error }
                    plan = kept
                }
                for (worker, bytes) in PlanMemory.byWorker(plan.pipelines) {
                    used[worker, default: 0] += bytes
                }
                results.append((demand.key, .success(plan)))
            } catch {
                results.append((demand.key, .failure(error)))
            }
        }
        return results
    }

    /// The current plan cut to `maxPipelines`, re-predicted on today's speeds, if every
    /// worker of it is still there with the memory its stages hold.
    private func keepable(_ current: Plan, demand: Demand, left: [WorkerProfile]) -> Plan? {
        var trimmed = current
        trimmed.pipelines = Array(current.pipelines.prefix(max(1, demand.maxPipelines)))
        let budgets = Dictionary(uniqueKeysWithValues: left.map { ($0.id, $0.memoryBudgetBytes) })
        for (worker, bytes) in PlanMemory.byWorker(trimmed.pipelines)
        where bytes > budgets[worker, default: 0] {
            return nil
        }
        trimmed.options.maxPipelines = max(1, demand.maxPipelines)
        return adoption.repredicted(
            trimmed, model: demand.profile, workers: left, links: links, quality: demand.quality)
    }

    /// The workers with their budgets reduced by `used`; a worker with nothing left is out.
    static func remaining(_ workers: [WorkerProfile], used: [String: Int]) -> [WorkerProfile] {
        workers.compactMap { worker in
            var left = worker
            left.memoryBudgetBytes = worker.memoryBudgetBytes - used[worker.id, default: 0]
            return left.memoryBudgetBytes > 0 ? left : nil
        }
    }
}

/// Memory pipelines hold: each stage's shard weights and the KV cache reserved for it.
enum PlanMemory {
    static func byWorker(_ pipelines: [Pipeline]) -> [String: Int] {
        var bytes: [String: Int] = [:]
        for stage in pipelines.flatMap(\.stages) {
            bytes[stage.workerID, default: 0] += stage.shardBytes + stage.kvReserveBytes
        }
        return bytes
    }

    static func total(_ pipelines: [Pipeline]) -> Int {
        byWorker(pipelines).values.reduce(0, +)
    }

    /// What one pipeline of the model needs in all: every weight once, and the KV cache of
    /// `sessions` sessions of `contextLength` tokens (an estimate: a split pipeline stores a
    /// tied embedding twice).
    static func footprint(of model: ModelProfile, contextLength: Int, sessions: Int) -> Int {
        var weights =
            model.embedding.weightBytes + model.outputHead.weightBytes
            - model.tiedEmbeddingBytes
        var kvPerToken = 0
        for layer in model.layers {
            weights += layer.weightBytes
            kvPerToken += layer.kvBytesPerToken
        }
        return weights + kvPerToken * contextLength * max(1, sessions)
    }
}
