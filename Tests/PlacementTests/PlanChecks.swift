import Placement
import Testing

/// Checks a plan against the problem's rules using the reference formulas: contiguous full
/// coverage, memory respected, each worker in at most one stage, predictions consistent.
func expectFeasible(
    _ plan: Plan, _ instance: Instance, sourceLocation: SourceLocation = #_sourceLocation
) {
    let reference = BruteForce(instance: instance)
    let byID = Dictionary(uniqueKeysWithValues: instance.workers.map { ($0.id, $0) })
    var seen = Set<String>()
    for pipeline in plan.pipelines {
        var next = 0
        for stage in pipeline.stages {
            #expect(stage.layers.lowerBound == next, sourceLocation: sourceLocation)
            #expect(!stage.layers.isEmpty, sourceLocation: sourceLocation)
            next = stage.layers.upperBound
            #expect(
                seen.insert(stage.workerID).inserted, "worker reused",
                sourceLocation: sourceLocation)
            guard let worker = byID[stage.workerID] else {
                Issue.record("unknown worker \(stage.workerID)", sourceLocation: sourceLocation)
                continue
            }
            #expect(
                reference.stageMemory(worker, stage.layers) <= worker.memoryBudgetBytes,
                sourceLocation: sourceLocation)
            #expect(
                stage.shardBytes + stage.kvReserveBytes
                    == reference.stageMemory(worker, stage.layers),
                sourceLocation: sourceLocation)
            #expect(
                close(stage.computeSeconds, reference.stageSeconds(worker, stage.layers)),
                sourceLocation: sourceLocation)
        }
        #expect(next == instance.model.layers.count, sourceLocation: sourceLocation)
    }
}

func close(_ a: Double, _ b: Double, relative: Double = 1e-9) -> Bool {
    abs(a - b) <= relative * max(abs(a), abs(b), 1e-12)
}
