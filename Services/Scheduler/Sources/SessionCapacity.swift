/// Session slots against leases. Each worker serves a number of sessions at once (its slots,
/// which it reports); every lease holds one slot on each worker of its pipeline, and a
/// worker's slots are shared by all the pipelines it hosts a stage of, so leases are counted
/// per worker, draining pipelines included. A pipeline can take one more session when every
/// one of its workers has a slot free: its capacity is the least free count over its stages.
struct SessionCapacity {
    /// Slots by worker id; a worker absent or at 0 is not limited (it reports no count).
    let slots: [String: Int]
    /// Sessions leased now, by worker id.
    private(set) var inUse: [String: Int] = [:]

    init(slots: [String: Int], pipelines: [LivePipelines.LivePipeline]) {
        self.slots = slots
        for pipeline in pipelines where pipeline.leases > 0 {
            for stage in pipeline.stages {
                inUse[stage.workerID, default: 0] += pipeline.leases
            }
        }
    }

    /// Whether `pipeline` can take one more session now.
    func hasFreeSlot(_ pipeline: LivePipelines.LivePipeline) -> Bool {
        Self.fits(pipeline, used: inUse, slots: slots)
    }

    /// Sessions `pipelines` could serve at once with nothing running, filling them one
    /// session at a time while any has a slot on every stage (exact for replicas that share
    /// no worker and for one chain; a fair estimate in between). nil: not limited (a
    /// pipeline none of whose workers reports slots).
    func total(of pipelines: [LivePipelines.LivePipeline]) -> Int? {
        guard
            !pipelines.contains(where: { pipeline in
                pipeline.stages.allSatisfy { (slots[$0.workerID] ?? 0) <= 0 }
            })
        else { return nil }
        var used: [String: Int] = [:]
        var total = 0
        var progress = true
        while progress {
            progress = false
            for pipeline in pipelines where Self.fits(pipeline, used: used, slots: slots) {
                for stage in pipeline.stages { used[stage.workerID, default: 0] += 1 }
                total += 1
                progress = true
            }
        }
        return total
    }

    /// Every limited worker of `pipeline` has a slot for it (a worker that hosts several of
    /// its stages needs one per stage).
    private static func fits(
        _ pipeline: LivePipelines.LivePipeline, used: [String: Int], slots: [String: Int]
    ) -> Bool {
        var needed: [String: Int] = [:]
        for stage in pipeline.stages { needed[stage.workerID, default: 0] += 1 }
        return needed.allSatisfy { worker, count in
            let limit = slots[worker] ?? 0
            return limit <= 0 || used[worker, default: 0] + count <= limit
        }
    }
}
