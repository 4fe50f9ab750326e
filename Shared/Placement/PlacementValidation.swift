/// Input checks, and the memory checks that explain infeasibility before any search runs.
enum PlacementValidation {
    static func validate(
        model: ModelProfile, workers: [WorkerProfile], links: LinkModel, options: PlacementOptions
    )
        throws
    {
        func require(_ condition: Bool, _ why: @autoclosure () -> String) throws {
            if !condition { throw PlacementError.invalidInput(why()) }
        }
        try require(!model.layers.isEmpty, "the model has no layers")
        for (index, layer) in model.layers.enumerated() {
            try require(
                layer.weightBytes >= 0 && layer.kvBytesPerToken >= 0 && layer.flopsPerToken >= 0
                    && layer.flopsPerToken.isFinite,
                "layer \(index) has a negative or non-finite cost")
        }
        for (name, extra) in [("embedding", model.embedding), ("output head", model.outputHead)] {
            try require(
                extra.weightBytes >= 0 && extra.bytesReadPerToken >= 0 && extra.flopsPerToken >= 0
                    && extra.flopsPerToken.isFinite, "the \(name) has a negative or non-finite cost"
            )
        }
        try require(
            model.tiedEmbeddingBytes >= 0
                && model.tiedEmbeddingBytes
                    <= min(model.embedding.weightBytes, model.outputHead.weightBytes),
            "tied embedding bytes must lie between 0 and the embedding and head sizes")
        try require(
            model.activationBytesPerToken >= 0 && model.ingressBytesPerToken >= 0
                && model.egressBytesPerToken >= 0,
            "negative per-token transfer size")

        if workers.isEmpty { throw PlacementError.noWorkers }
        var ids = Set<String>()
        for worker in workers {
            try require(ids.insert(worker.id).inserted, "duplicate worker id '\(worker.id)'")
            let speed = worker.speed
            try require(
                speed.bytesPerSecond > 0 && speed.bytesPerSecond.isFinite
                    && speed.flopsPerSecond > 0
                    && speed.overheadSeconds >= 0 && speed.overheadSeconds.isFinite,
                "worker '\(worker.id)' has a non-positive or non-finite speed")
            try require(
                worker.activeSessions >= 0 && worker.expectedSessions >= 0,
                "worker '\(worker.id)' has a negative session count")
        }

        var allLinks =
            [links.defaultLink, links.defaultGatewayLink] + Array(links.gatewayLinks.values)
        allLinks +=
            links.siteLinks.values.flatMap(\.values) + links.pairLinks.values.flatMap(\.values)
        for link in allLinks {
            try require(
                link.latencySeconds >= 0 && link.latencySeconds.isFinite && link.bytesPerSecond > 0,
                "a link has negative latency or non-positive bandwidth")
        }

        try require(options.contextLength >= 0, "context length must not be negative")
        try require(options.loadPenaltyPerSession >= 0, "load penalty must not be negative")
        try require(options.maxPipelines >= 1, "maxPipelines must be at least 1")
        try require(options.replicaLatencyFactor >= 1, "replicaLatencyFactor must be at least 1")
        try require(options.maxSearchNodes >= 1, "maxSearchNodes must be at least 1")
    }

    /// Throws when some layer, with the embedding or head it must carry, fits nowhere alone.
    static func checkEveryLayerFits(_ t: CostTables) throws {
        for layer in 0..<t.layerCount {
            var closest: (need: Int, budget: Int)?
            for w in 0..<t.workerCount {
                let need = t.memoryNeeded(w, layer, layer + 1)
                if need <= t.budget[w] {
                    closest = nil
                    break
                }
                if closest == nil || need - t.budget[w] < closest!.need - closest!.budget {
                    closest = (need, t.budget[w])
                }
            }
            if let closest {
                throw PlacementError.layerTooLarge(
                    layer: layer, neededBytes: closest.need, budgetBytes: closest.budget)
            }
        }
    }

    /// Throws when the usable workers together cannot hold the model: weights (tied ones
    /// once) plus KV at the smallest reservation any usable worker makes.
    static func checkTotalMemory(_ t: CostTables, usable: [Int]) throws {
        let layers = t.layerCount
        let smallestReservation = usable.map { t.kvTokensReserved[$0] }.min() ?? 0
        let kvPerToken = t.model.layers.reduce(0) { $0 + $1.kvBytesPerToken }
        let needed = t.shardBytes(0, layers) + kvPerToken * smallestReservation
        let available = usable.reduce(0) { $0 + t.budget[$1] }
        if needed > available {
            throw PlacementError.insufficientMemory(neededBytes: needed, availableBytes: available)
        }
    }
}
