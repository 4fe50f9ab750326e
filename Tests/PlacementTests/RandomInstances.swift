import Placement

struct Instance {
    var model: ModelProfile
    var workers: [WorkerProfile]
    var links: LinkModel
    var options: PlacementOptions
}

/// Random small instances that mix everything the cost model has: uneven layers, embedding
/// and head (sometimes tied), KV reservations, contention, identical workers (to exercise
/// the symmetry pruning), sites, asymmetric pair links and gateway links.
/// `budgetScale` caps a worker's memory as a fraction of the model's weights.
/// `allInSites` puts every worker in one of three sites with cheap links inside and dear
/// links between, the shape the site-aware bound is for.
func randomInstance(
    seed: UInt64, maxWorkers: Int = 5, maxLayers: Int = 8, budgetScale: Double = 0.75,
    allInSites: Bool = false
) -> Instance {
    var rng = SeededGenerator(seed: seed)
    let layerCount = Int.random(in: 1...maxLayers, using: &rng)
    let uniformLayers = Bool.random(using: &rng)
    let base = LayerCost(weightBytes: 100, flopsPerToken: 200, kvBytesPerToken: 2)
    let layers = (0..<layerCount).map { _ in
        uniformLayers
            ? base
            : LayerCost(
                weightBytes: Int.random(in: 40...160, using: &rng),
                flopsPerToken: Double(Int.random(in: 0...400, using: &rng)),
                kvBytesPerToken: Int.random(in: 0...3, using: &rng))
    }
    let embedBytes = Int.random(in: 0...120, using: &rng)
    let headBytes = Int.random(in: 0...160, using: &rng)
    let tied = Bool.random(using: &rng) ? min(embedBytes, headBytes) : 0
    let model = ModelProfile(
        layers: layers,
        embedding: StageExtra(
            weightBytes: embedBytes, bytesReadPerToken: Int.random(in: 0...10, using: &rng)),
        outputHead: StageExtra(
            weightBytes: headBytes, bytesReadPerToken: headBytes,
            flopsPerToken: Double(Int.random(in: 0...300, using: &rng))),
        tiedEmbeddingBytes: tied, activationBytesPerToken: Int.random(in: 0...64, using: &rng),
        ingressBytesPerToken: 4, egressBytesPerToken: Int.random(in: 4...40, using: &rng))

    let contextLength = Int.random(in: 0...6, using: &rng)
    let modelBytes = layers.reduce(0) { $0 + $1.weightBytes } + embedBytes + headBytes
    let workerCount = Int.random(in: 1...maxWorkers, using: &rng)
    var workers: [WorkerProfile] = []
    for index in 0..<workerCount {
        let id = "w\(Int.random(in: 0...99, using: &rng))-\(index)"
        if let original = workers.last, Int.random(in: 0..<10, using: &rng) < 3 {
            var copy = original
            copy.id = id
            workers.append(copy)
            continue
        }
        let speed = WorkerSpeed(
            bytesPerSecond: Double(Int.random(in: 1...20, using: &rng)) * 1000,
            flopsPerSecond: Bool.random(using: &rng)
                ? .infinity : Double(Int.random(in: 1...20, using: &rng)) * 4000,
            overheadSeconds: Double(Int.random(in: 0...10, using: &rng)) / 1000)
        workers.append(
            WorkerProfile(
                id: id,
                memoryBudgetBytes: Int.random(
                    in: 30...max(31, Int(Double(modelBytes) * budgetScale)), using: &rng),
                speed: speed,
                activeSessions: Int.random(in: 0...2, using: &rng),
                expectedSessions: Int.random(in: 0...3, using: &rng)))
    }

    func randomLink(_ rng: inout SeededGenerator) -> Link {
        Link(
            latencySeconds: Double(Int.random(in: 0...20, using: &rng)) / 1000,
            bytesPerSecond: Double(Int.random(in: 1...50, using: &rng)) * 1000)
    }
    var links = LinkModel(defaultLink: randomLink(&rng), defaultGatewayLink: randomLink(&rng))
    if allInSites {
        let sites = ["x", "y", "z"]
        for worker in workers { links.siteOfWorker[worker.id] = sites.randomElement(using: &rng)! }
        for a in sites {
            for b in sites {
                let link =
                    a == b
                    ? randomLink(&rng)
                    : Link(
                        latencySeconds: 0.02 + Double(Int.random(in: 0...20, using: &rng)) / 1000,
                        bytesPerSecond: 1000)
                links.siteLinks[a, default: [:]][b] = link
            }
        }
    } else if Bool.random(using: &rng) {
        for worker in workers where Bool.random(using: &rng) {
            links.siteOfWorker[worker.id] = Bool.random(using: &rng) ? "north" : "south"
        }
        links.setSiteLink(randomLink(&rng), between: "north", and: "north")
        links.setSiteLink(randomLink(&rng), between: "north", and: "south")
    }
    for a in workers {
        for b in workers where a.id != b.id && Int.random(in: 0..<10, using: &rng) < 2 {
            links.setLink(
                randomLink(&rng), from: a.id, to: b.id, symmetric: Bool.random(using: &rng))
        }
        if Int.random(in: 0..<10, using: &rng) < 2 { links.gatewayLinks[a.id] = randomLink(&rng) }
    }
    let options = PlacementOptions(
        contextLength: contextLength,
        loadPenaltyPerSession: Double(Int.random(in: 0...4, using: &rng)) / 4,
        maxPipelines: 8, replicaLatencyFactor: 3)
    return Instance(
        model: model, workers: workers.shuffled(using: &rng), links: links, options: options)
}
