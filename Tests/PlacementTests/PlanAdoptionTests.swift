import Testing

@testable import Placement

/// Drift re-plans are adopted only when clearly better than keeping the layout.
@Suite struct PlanAdoptionTests {
    let model = Fixtures.uniformModel(layers: 8)
    let workers = [
        Fixtures.worker("a", memory: 500, bytesPerSecond: 2000),
        Fixtures.worker("b", memory: 500, bytesPerSecond: 2000),
        Fixtures.worker("c", memory: 500, bytesPerSecond: 1500),
        Fixtures.worker("d", memory: 500, bytesPerSecond: 1500),
    ]

    /// The current plan kept under `now`, as the scheduler compares it.
    func kept(_ current: Plan, _ now: [WorkerProfile]) throws -> Plan {
        try #require(
            PlanAdoption().repredicted(current, model: model, workers: now, links: Fixtures.links))
    }

    func slowed(_ ids: Set<String>, by factor: Double) -> [WorkerProfile] {
        workers.map { worker in
            var changed = worker
            if ids.contains(worker.id) { changed.speed = worker.speed.slowed(by: factor) }
            return changed
        }
    }

    @Test func aUniformSlowdownMovesNothing() throws {
        let current = try Placement.solve(model: model, workers: workers, links: Fixtures.links)
        let now = slowed(["a", "b", "c", "d"], by: 2)
        let candidate = try Placement.solve(model: model, workers: now, links: Fixtures.links)
        // every worker drifted…
        #expect(!ReplanAdvisor().reasons(plan: current, current: now).isEmpty)
        let keptLayout = try kept(current, now)
        #expect(!PlanAdoption().worthAdopting(candidate, over: keptLayout))
    }

    @Test func aSmallDriftMovesNothing() throws {
        let current = try Placement.solve(model: model, workers: workers, links: Fixtures.links)
        let now = slowed(["a"], by: 1.1)
        let candidate = try Placement.solve(model: model, workers: now, links: Fixtures.links)
        let keptLayout = try kept(current, now)
        #expect(!PlanAdoption().worthAdopting(candidate, over: keptLayout))
    }

    @Test func aWorkerMuchSlowerIsPlannedAround() throws {
        let current = try Placement.solve(model: model, workers: workers, links: Fixtures.links)
        #expect(current.primary.workerIDs.contains("a"))
        let now = slowed(["a"], by: 4)
        let candidate = try Placement.solve(model: model, workers: now, links: Fixtures.links)
        let keptLayout = try kept(current, now)
        #expect(PlanAdoption().worthAdopting(candidate, over: keptLayout))
        #expect(!candidate.primary.workerIDs.contains("a"))
    }

    @Test func keepingTheLayoutRebasesDrift() throws {
        let current = try Placement.solve(model: model, workers: workers, links: Fixtures.links)
        let now = slowed(["a", "b", "c", "d"], by: 2)
        let kept = try #require(
            PlanAdoption().repredicted(current, model: model, workers: now, links: Fixtures.links))
        #expect(kept.pipelines.map(\.workerIDs) == current.pipelines.map(\.workerIDs))
        #expect(
            kept.pipelines.map { $0.stages.map(\.layers) }
                == current.pipelines.map { $0.stages.map(\.layers) })
        #expect(kept.primary.secondsPerToken > current.primary.secondsPerToken * 1.5)
        #expect(ReplanAdvisor().reasons(plan: kept, current: now).isEmpty)
        // A worker of the plan is gone: nothing to keep.
        #expect(
            PlanAdoption().repredicted(
                current, model: model, workers: Array(now.dropFirst()), links: Fixtures.links)
                == nil)
    }
}
