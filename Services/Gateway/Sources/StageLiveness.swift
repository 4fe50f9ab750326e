import Cluster
import ServiceKit
import Synchronization

/// Which stage of a pipeline no longer answers health checks: how a step that takes too long
/// is told apart as slow (every stage answers: a busy worker, a long queue) or stalled (one
/// does not: stopped, hung, cut off).
struct StageLiveness: Sendable {
    let stages: [PipelineRoute.Stage]
    /// Probes run here, not on the caller's task, so the caller never waits longer than
    /// `patience` whatever a probe does.
    let calls: BackgroundWork
    /// Generous: a busy machine answers a health check late, and a stage wrongly taken for
    /// stalled costs a failover of all its sessions (a stopped one never answers).
    var probeTimeout: Duration = .seconds(2)
    var patience: Duration = .milliseconds(2500)

    /// The first stage (in pipeline order) that did not answer SERVING in time, all probed
    /// at once; nil when every stage answered.
    func silentStage() async -> PipelineRoute.Stage? {
        let answered = Mutex<Set<Int>>([])
        let done = OneShot<Void>()
        let stages = self.stages
        let timeout = probeTimeout
        for (index, stage) in stages.enumerated() {
            calls.submit {
                guard await HealthProbe.isServing(stage.address, timeout: timeout) else { return }
                let all = answered.withLock { answered in
                    answered.insert(index)
                    return answered.count == stages.count
                }
                if all { done.set(()) }
            }
        }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { _ = try? await done.value }
            group.addTask { [patience] in try? await Task.sleep(for: patience) }
            await group.next()
            group.cancelAll()
        }
        let silent = answered.withLock { answered in
            stages.indices.first { !answered.contains($0) }
        }
        return silent.map { stages[$0] }
    }
}
