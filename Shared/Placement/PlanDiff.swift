/// What changes when the scheduler moves from one plan to the next, so old pipelines can
/// drain while new ones take new requests, and shards already loaded are kept.
public struct PlanDiff: Sendable, Hashable {
    /// What one worker has to do.
    public enum WorkerChange: Sendable, Hashable {
        /// Same range as before: keep the loaded shard (its pipeline may still be new if
        /// neighbours changed).
        case keeps(Range<Int>)
        /// Newly used: load this range.
        case loads(Range<Int>)
        /// Used before with another range: drain the old stage, then load the new range.
        case reloads(from: Range<Int>, to: Range<Int>)
        /// No longer used: drain, then free the shard.
        case releases(Range<Int>)
    }

    /// Pipelines present in both plans with identical stages: (old index, new index).
    public var keptPipelines: [(old: Int, new: Int)]
    /// New-plan pipelines that must be built before taking requests.
    public var addedPipelines: [Int]
    /// Old-plan pipelines to stop feeding and drain.
    public var retiredPipelines: [Int]
    /// Per worker, sorted by id; workers idle in both plans are left out.
    public var workerChanges: [(workerID: String, change: WorkerChange)]

    public var isEmpty: Bool { addedPipelines.isEmpty && retiredPipelines.isEmpty }

    public init(from old: Plan, to new: Plan) {
        var unmatchedOld = Array(old.pipelines.indices)
        var kept: [(Int, Int)] = []
        var added: [Int] = []
        for (newIndex, pipeline) in new.pipelines.enumerated() {
            let key = Self.shape(pipeline)
            if let position = unmatchedOld.firstIndex(where: {
                Self.shape(old.pipelines[$0]) == key
            }) {
                kept.append((unmatchedOld.remove(at: position), newIndex))
            } else {
                added.append(newIndex)
            }
        }
        keptPipelines = kept
        addedPipelines = added
        retiredPipelines = unmatchedOld

        var before: [String: Range<Int>] = [:]
        var after: [String: Range<Int>] = [:]
        for stage in old.pipelines.flatMap(\.stages) { before[stage.workerID] = stage.layers }
        for stage in new.pipelines.flatMap(\.stages) { after[stage.workerID] = stage.layers }
        var changes: [(String, WorkerChange)] = []
        for id in Set(before.keys).union(after.keys).sorted() {
            switch (before[id], after[id]) {
            case (let old?, let new?):
                changes.append((id, old == new ? .keeps(new) : .reloads(from: old, to: new)))
            case (nil, let new?): changes.append((id, .loads(new)))
            case (let old?, nil): changes.append((id, .releases(old)))
            case (nil, nil): break
            }
        }
        workerChanges = changes
    }

    public static func == (a: PlanDiff, b: PlanDiff) -> Bool {
        a.keptPipelines.map { [$0.old, $0.new] } == b.keptPipelines.map { [$0.old, $0.new] }
            && a.addedPipelines == b.addedPipelines && a.retiredPipelines == b.retiredPipelines
            && a.workerChanges.map(\.workerID) == b.workerChanges.map(\.workerID)
            && a.workerChanges.map(\.change) == b.workerChanges.map(\.change)
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(addedPipelines)
        hasher.combine(retiredPipelines)
        for change in workerChanges {
            hasher.combine(change.workerID)
            hasher.combine(change.change)
        }
    }

    /// A pipeline's identity: which worker runs which range, in order. Predicted times are
    /// not part of it; they move with every speed update.
    private static func shape(_ pipeline: Pipeline) -> [String] {
        pipeline.stages.map { "\($0.workerID)@\($0.layers.lowerBound)-\($0.layers.upperBound)" }
    }
}
