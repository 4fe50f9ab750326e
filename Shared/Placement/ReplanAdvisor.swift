/// Why the current plan should be recomputed.
public enum ReplanReason: Sendable, Hashable, CustomStringConvertible {
    /// A worker the plan never considered is available.
    case workerJoined(String)
    /// A worker running a stage is gone: its pipeline is broken.
    case workerLeft(String)
    /// A worker's speed now predicts `ratio` × the time the plan assumed (for its stage, or
    /// per byte if it runs none).
    case speedDrift(workerID: String, ratio: Double)
    /// A worker's memory budget no longer holds its stage.
    case memoryShortfall(workerID: String, neededBytes: Int, budgetBytes: Int)
    /// A worker's memory budget changed enough to matter for an unused worker.
    case memoryChanged(workerID: String, from: Int, to: Int)

    /// Only a worker's speed changed: the current plan is still possible.
    public var isSpeedDrift: Bool {
        if case .speedDrift = self { return true }
        return false
    }

    public var description: String {
        switch self {
        case .workerJoined(let id): return "worker \(id) joined"
        case .workerLeft(let id): return "worker \(id) left"
        case .speedDrift(let id, let ratio):
            return "worker \(id) now takes \(formatDecimal(ratio, 2))× the planned time"
        case .memoryShortfall(let id, let needed, let budget):
            return "worker \(id) needs \(needed) bytes for its stage but has \(budget)"
        case .memoryChanged(let id, let from, let to):
            return "worker \(id) memory \(from) → \(to) bytes"
        }
    }
}

/// Decides when the scheduler should re-plan: membership changes, speed drift past a
/// threshold, or memory that no longer fits. Re-planning is cheap (well under a second), but
/// moving shards is not, so small drifts are ignored.
public struct ReplanAdvisor: Sendable {
    /// Relative drift that triggers a re-plan: 0.25 means 25% slower or faster.
    public var driftThreshold: Double
    /// Relative memory change of an unused worker that is worth a re-plan.
    public var memoryThreshold: Double

    public init(driftThreshold: Double = 0.25, memoryThreshold: Double = 0.25) {
        self.driftThreshold = driftThreshold
        self.memoryThreshold = memoryThreshold
    }

    /// Reasons to re-plan, given the workers as they are now (speeds from `SpeedEstimator`).
    /// Empty means the plan stands. Sorted by worker id for stable logs.
    public func reasons(plan: Plan, current workers: [WorkerProfile]) -> [ReplanReason] {
        var reasons: [(String, ReplanReason)] = []
        let assumed = Dictionary(
            plan.assumedWorkers.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        let now = Dictionary(workers.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        for id in plan.usedWorkerIDs where now[id] == nil { reasons.append((id, .workerLeft(id))) }
        for worker in workers {
            guard let before = assumed[worker.id] else {
                reasons.append((worker.id, .workerJoined(worker.id)))
                continue
            }
            if let (_, stage) = plan.stage(of: worker.id) {
                let ratio = predictedRatio(
                    stage: stage, before: before, now: worker,
                    penalty: plan.options.loadPenaltyPerSession)
                if abs(ratio - 1) > driftThreshold {
                    reasons.append((worker.id, .speedDrift(workerID: worker.id, ratio: ratio)))
                }
                let needed = stage.shardBytes + stage.kvReserveBytes
                if worker.memoryBudgetBytes < needed {
                    reasons.append(
                        (
                            worker.id,
                            .memoryShortfall(
                                workerID: worker.id, neededBytes: needed,
                                budgetBytes: worker.memoryBudgetBytes)
                        ))
                }
            } else {
                // An unused worker matters only if it got better: faster or roomier.
                let ratio =
                    worker.speed.bytesPerSecond > 0
                    ? before.speed.bytesPerSecond / worker.speed.bytesPerSecond : 1
                if ratio < 1 - driftThreshold {
                    reasons.append((worker.id, .speedDrift(workerID: worker.id, ratio: ratio)))
                }
                let grown =
                    Double(worker.memoryBudgetBytes) / Double(max(1, before.memoryBudgetBytes))
                if grown > 1 + memoryThreshold {
                    reasons.append(
                        (
                            worker.id,
                            .memoryChanged(
                                workerID: worker.id, from: before.memoryBudgetBytes,
                                to: worker.memoryBudgetBytes)
                        ))
                }
            }
        }
        return reasons.sorted { $0.0 < $1.0 }.map(\.1)
    }

    /// Stage time under the new speed and load over stage time under the assumed ones.
    private func predictedRatio(
        stage: Stage, before: WorkerProfile, now: WorkerProfile, penalty: Double
    ) -> Double {
        let old =
            before.speed.seconds(bytesRead: stage.bytesReadPerToken, flops: stage.flopsPerToken)
            * (1 + penalty * Double(before.activeSessions))
        let new =
            now.speed.seconds(bytesRead: stage.bytesReadPerToken, flops: stage.flopsPerToken)
            * (1 + penalty * Double(now.activeSessions))
        return old > 0 ? new / old : 1
    }
}
