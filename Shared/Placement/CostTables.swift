/// One placement instance flattened into arrays indexed by a dense worker index (workers in
/// id order), so the search costs a stage or a link in O(1) without dictionaries.
struct CostTables {
    let model: ModelProfile
    private(set) var workers: [WorkerProfile]
    let layerCount: Int
    var workerCount: Int { workers.count }

    // Prefix sums over layers: entry i covers layers 0..<i. Byte sums are integers below
    // 2^53, so the Double ones are exact and stage costs do not depend on summation order.
    private let weightPrefix: [Int]
    private let kvPrefix: [Int]
    private let readPrefix: [Double]
    private let flopsPrefix: [Double]

    /// Effective per-worker coefficients, contention included.
    private(set) var secondsPerByte: [Double]
    private(set) var secondsPerFlop: [Double]
    private(set) var overheadSeconds: [Double]
    /// contextLength × reserved sessions: multiplies a range's KV bytes per token.
    private(set) var kvTokensReserved: [Int]
    private(set) var budget: [Int]
    /// maxEnd[w * (L + 1) + b]: the largest e with [b, e) fitting on w (b itself if none).
    private var maxEndTable: [Int] = []
    /// computeSeconds for every range that fits: the search and the bounds read it millions
    /// of times. Entry stageOffset[w * (L + 1) + b] + (e - b - 1) holds [b, e) on w.
    private var stageTable: [Double] = []
    private var stageOffset: [Int] = []
    /// link[a * W + b]: seconds to pass one token's activations from a to b.
    private var linkTable: [Double]
    private(set) var ingressSeconds: [Double]
    private(set) var egressSeconds: [Double]
    /// Site index of each worker (workers without a site share one extra index); only a
    /// hint for `KnapsackBound`, which stays valid for any grouping.
    private(set) var siteGroup: [Int]
    let siteGroupCount: Int
    /// Interchangeability class of each worker (see WorkerSymmetry.swift).
    private(set) var classID: [Int] = []

    init(model: ModelProfile, workers: [WorkerProfile], links: LinkModel, options: PlacementOptions)
    {
        self.model = model
        self.workers = workers
        let layerCount = model.layers.count
        self.layerCount = layerCount

        var weight = [0]
        var kv = [0]
        var read = [0.0]
        var flops = [0.0]
        for layer in model.layers {
            weight.append(weight.last! + layer.weightBytes)
            kv.append(kv.last! + layer.kvBytesPerToken)
            read.append(read.last! + Double(layer.weightBytes))
            flops.append(flops.last! + layer.flopsPerToken)
        }
        weightPrefix = weight
        kvPrefix = kv
        readPrefix = read
        flopsPrefix = flops

        let contention = workers.map {
            1 + options.loadPenaltyPerSession * Double(max(0, $0.activeSessions))
        }
        secondsPerByte = zip(workers, contention).map { $1 / $0.speed.bytesPerSecond }
        secondsPerFlop = zip(workers, contention).map {
            $0.speed.flopsPerSecond.isInfinite ? 0 : $1 / $0.speed.flopsPerSecond
        }
        overheadSeconds = zip(workers, contention).map { $0.speed.overheadSeconds * $1 }
        kvTokensReserved = workers.map { options.contextLength * max(1, $0.expectedSessions) }
        budget = workers.map(\.memoryBudgetBytes)

        var links2 = [Double](repeating: 0, count: workers.count * workers.count)
        for (a, from) in workers.enumerated() {
            for (b, to) in workers.enumerated() where a != b {
                links2[a * workers.count + b] =
                    links.link(from: from.id, to: to.id).seconds(
                        bytes: model.activationBytesPerToken)
            }
        }
        linkTable = links2
        ingressSeconds = workers.map {
            links.gatewayLink($0.id).seconds(bytes: model.ingressBytesPerToken)
        }
        egressSeconds = workers.map {
            links.gatewayLink($0.id).seconds(bytes: model.egressBytesPerToken)
        }
        let sites = Set(workers.compactMap { links.siteOfWorker[$0.id] }).sorted()
        let siteIndex = Dictionary(uniqueKeysWithValues: sites.enumerated().map { ($1, $0) })
        siteGroup = workers.map {
            links.siteOfWorker[$0.id].flatMap { siteIndex[$0] } ?? sites.count
        }
        siteGroupCount = Set(siteGroup).count == 0 ? 0 : (siteGroup.max() ?? 0) + 1
        maxEndTable = computeMaxEnds()
        (stageTable, stageOffset) = computeStageTable()
        classID = computeClassIDs()
    }

    /// The same instance over a subset of the workers (indices in id order), without
    /// recomputing links, memory limits or stage costs: replicas are planned on what the
    /// earlier pipelines left. Interchangeability found on the full set still holds.
    func restricted(to keep: [Int]) -> CostTables {
        var t = self
        let stride = layerCount + 1
        t.workers = keep.map { workers[$0] }
        t.secondsPerByte = keep.map { secondsPerByte[$0] }
        t.secondsPerFlop = keep.map { secondsPerFlop[$0] }
        t.overheadSeconds = keep.map { overheadSeconds[$0] }
        t.kvTokensReserved = keep.map { kvTokensReserved[$0] }
        t.budget = keep.map { budget[$0] }
        t.ingressSeconds = keep.map { ingressSeconds[$0] }
        t.egressSeconds = keep.map { egressSeconds[$0] }
        t.siteGroup = keep.map { siteGroup[$0] }
        t.classID = keep.map { classID[$0] }
        t.linkTable = keep.flatMap { a in keep.map { b in linkSeconds(a, b) } }
        t.maxEndTable = keep.flatMap { maxEndTable[($0 * stride)..<(($0 + 1) * stride)] }
        t.stageTable = []
        t.stageOffset = []
        for w in keep {
            for b in 0...layerCount {
                t.stageOffset.append(t.stageTable.count)
                let start = stageOffset[w * stride + b]
                t.stageTable.append(
                    contentsOf: stageTable[start..<(start + max(0, maxEnd(w, b) - b))])
            }
        }
        return t
    }

    // MARK: Stage arithmetic

    /// Weight bytes a stage covering [b, e) loads.
    func shardBytes(_ b: Int, _ e: Int) -> Int {
        var bytes = weightPrefix[e] - weightPrefix[b]
        if b == 0 { bytes += model.embedding.weightBytes }
        if e == layerCount { bytes += model.outputHead.weightBytes }
        if b == 0 && e == layerCount { bytes -= model.tiedEmbeddingBytes }
        return bytes
    }

    func kvReserveBytes(_ w: Int, _ b: Int, _ e: Int) -> Int {
        (kvPrefix[e] - kvPrefix[b]) * kvTokensReserved[w]
    }

    func memoryNeeded(_ w: Int, _ b: Int, _ e: Int) -> Int {
        shardBytes(b, e) + kvReserveBytes(w, b, e)
    }

    func bytesRead(_ b: Int, _ e: Int) -> Double {
        var bytes = readPrefix[e] - readPrefix[b]
        if b == 0 { bytes += Double(model.embedding.bytesReadPerToken) }
        if e == layerCount { bytes += Double(model.outputHead.bytesReadPerToken) }
        return bytes
    }

    func flops(_ b: Int, _ e: Int) -> Double {
        var total = flopsPrefix[e] - flopsPrefix[b]
        if b == 0 { total += model.embedding.flopsPerToken }
        if e == layerCount { total += model.outputHead.flopsPerToken }
        return total
    }

    /// Predicted compute seconds per token for worker w running [b, e).
    func computeSeconds(_ w: Int, _ b: Int, _ e: Int) -> Double {
        overheadSeconds[w] + secondsPerByte[w] * bytesRead(b, e) + secondsPerFlop[w] * flops(b, e)
    }

    /// Same as computeSeconds, from the precomputed table; [b, e) must fit on w.
    @inline(__always)
    func stageSeconds(_ w: Int, _ b: Int, _ e: Int) -> Double {
        stageTable[stageOffset[w * (layerCount + 1) + b] + (e - b - 1)]
    }

    /// Per-token seconds of one block on w, embedding and head excluded.
    func layerSeconds(_ w: Int, _ layer: Int) -> Double {
        let cost = model.layers[layer]
        return secondsPerByte[w] * Double(cost.weightBytes) + secondsPerFlop[w] * cost.flopsPerToken
    }

    func headSeconds(_ w: Int) -> Double {
        secondsPerByte[w] * Double(model.outputHead.bytesReadPerToken)
            + secondsPerFlop[w] * model.outputHead.flopsPerToken
    }

    func linkSeconds(_ a: Int, _ b: Int) -> Double { linkTable[a * workers.count + b] }

    /// Largest e such that [b, e) fits in w's memory; b when not even one layer fits.
    func maxEnd(_ w: Int, _ b: Int) -> Int { maxEndTable[w * (layerCount + 1) + b] }

    /// Raw views of the flat tables, for inner loops that run millions of times (valid only
    /// inside `body`). Index them as the accessors above do.
    func withFlatTables<R>(_ body: (FlatTables) -> R) -> R {
        linkTable.withUnsafeBufferPointer { link in
            stageTable.withUnsafeBufferPointer { stage in
                stageOffset.withUnsafeBufferPointer { offset in
                    maxEndTable.withUnsafeBufferPointer { maxEnd in
                        body(
                            FlatTables(
                                link: link, stage: stage, stageOffset: offset, maxEnd: maxEnd))
                    }
                }
            }
        }
    }

    struct FlatTables {
        let link: UnsafeBufferPointer<Double>
        let stage: UnsafeBufferPointer<Double>
        let stageOffset: UnsafeBufferPointer<Int>
        let maxEnd: UnsafeBufferPointer<Int>
    }

    /// Whether w can host any range at all.
    func canHostAnything(_ w: Int) -> Bool { (0..<layerCount).contains { maxEnd(w, $0) > $0 } }

    /// Memory is non-decreasing in e and non-increasing in b (validated: tied bytes never
    /// exceed the embedding or head), so a two-pointer sweep finds every maxEnd in O(L).
    private func computeMaxEnds() -> [Int] {
        let stride = layerCount + 1
        var table = [Int](repeating: 0, count: workers.count * stride)
        for w in 0..<workers.count {
            var e = 0
            for b in 0...layerCount {
                e = max(e, b)
                while e < layerCount && memoryNeeded(w, b, e + 1) <= budget[w] { e += 1 }
                table[w * stride + b] = e
            }
        }
        return table
    }

    private func computeStageTable() -> ([Double], [Int]) {
        var table: [Double] = []
        var offsets = [Int](repeating: 0, count: workers.count * (layerCount + 1))
        for w in 0..<workers.count {
            for b in 0...layerCount {
                offsets[w * (layerCount + 1) + b] = table.count
                let hi = maxEnd(w, b)
                if hi > b { for e in (b + 1)...hi { table.append(computeSeconds(w, b, e)) } }
            }
        }
        return (table, offsets)
    }
}
