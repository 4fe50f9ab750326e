import Placement

/// Reference solver written straight from the cost model's definitions, sharing no code
/// with the optimizer: every ordered subset of workers and every contiguous split.
struct BruteForce {
    let instance: Instance

    func stageMemory(_ worker: WorkerProfile, _ range: Range<Int>) -> Int {
        let model = instance.model
        var bytes = range.reduce(0) { $0 + model.layers[$1].weightBytes }
        if range.lowerBound == 0 { bytes += model.embedding.weightBytes }
        if range.upperBound == model.layers.count { bytes += model.outputHead.weightBytes }
        if range.lowerBound == 0 && range.upperBound == model.layers.count {
            bytes -= model.tiedEmbeddingBytes
        }
        let kv = range.reduce(0) { $0 + model.layers[$1].kvBytesPerToken }
        return bytes + kv * instance.options.contextLength * max(1, worker.expectedSessions)
    }

    func stageSeconds(_ worker: WorkerProfile, _ range: Range<Int>) -> Double {
        let model = instance.model
        var read = range.reduce(0.0) { $0 + Double(model.layers[$1].weightBytes) }
        var flops = range.reduce(0.0) { $0 + model.layers[$1].flopsPerToken }
        if range.lowerBound == 0 {
            read += Double(model.embedding.bytesReadPerToken)
            flops += model.embedding.flopsPerToken
        }
        if range.upperBound == model.layers.count {
            read += Double(model.outputHead.bytesReadPerToken)
            flops += model.outputHead.flopsPerToken
        }
        let speed = worker.speed
        let contention = 1 + instance.options.loadPenaltyPerSession * Double(worker.activeSessions)
        let flopSeconds = speed.flopsPerSecond.isInfinite ? 0 : flops / speed.flopsPerSecond
        return contention * (speed.overheadSeconds + read / speed.bytesPerSecond + flopSeconds)
    }

    func hopSeconds(_ a: WorkerProfile, _ b: WorkerProfile) -> Double {
        instance.links.link(from: a.id, to: b.id).seconds(
            bytes: instance.model.activationBytesPerToken)
    }

    /// Fastest pipeline over `workers`, or nil if none fits.
    func best(over workers: [WorkerProfile]) -> (seconds: Double, stages: [(String, Range<Int>)])? {
        let layerCount = instance.model.layers.count
        var bestSeconds = Double.infinity
        var bestStages: [(String, Range<Int>)] = []
        var used = Set<String>()
        var path: [(WorkerProfile, Range<Int>)] = []

        func pipelineSeconds() -> Double {
            let links = instance.links
            let model = instance.model
            var total = links.gatewayLink(path[0].0.id).seconds(bytes: model.ingressBytesPerToken)
            for (index, (worker, range)) in path.enumerated() {
                total += stageSeconds(worker, range)
                total +=
                    index + 1 < path.count
                    ? hopSeconds(worker, path[index + 1].0)
                    : links.gatewayLink(worker.id).seconds(bytes: model.egressBytesPerToken)
            }
            return total
        }

        func extend(from begin: Int) {
            if begin == layerCount {
                let seconds = pipelineSeconds()
                if seconds < bestSeconds {
                    bestSeconds = seconds
                    bestStages = path.map { ($0.0.id, $0.1) }
                }
                return
            }
            for worker in workers where !used.contains(worker.id) {
                for end in (begin + 1)...layerCount
                where stageMemory(worker, begin..<end) <= worker.memoryBudgetBytes {
                    used.insert(worker.id)
                    path.append((worker, begin..<end))
                    extend(from: end)
                    path.removeLast()
                    used.remove(worker.id)
                }
            }
        }
        extend(from: 0)
        return bestSeconds.isFinite ? (bestSeconds, bestStages) : nil
    }
}
