import Logging
import Placement
import ServiceKit

/// What the plan loop reads from the cache-manager (the default model, the serving marks)
/// and the shards it unloads.
extension PlanLoop {
    /// Reads which catalog models are marked servable (on a schedule; ServeModel asks at once).
    func readCatalog(defaultSHA256: String) async {
        do {
            let (servable, defaultMarks, qualities) = try await source.servable(
                defaultSHA256: defaultSHA256)
            models.updateCatalog(servable)
            models.updateQualities(qualities)
            if let defaultMarks { models.updateDefaultMarks(defaultMarks) }
        } catch {
            logger.debug("catalog not read", metadata: ["error": "\(error)"])
        }
    }

    /// Shards a worker reports that no pipeline of any model (planned or draining) wants
    /// there. Without any plan (the scheduler just started, or the workers so far cannot hold
    /// the model) nothing is unloaded: the shards workers kept are what the next plan will
    /// want. A quarantined worker keeps no shard, plan or not, even one a draining pipeline
    /// still holds leases on: its sessions must fail, so that the gateway fails them over to
    /// workers it can trust, as when a worker dies.
    func unloadUnwanted(_ workers: [RegisteredWorker]) async {
        typealias Unload = (workerID: String, address: ListenAddress, sha256: String)
        var planned = false
        // By worker: each model's wanted layer ranges, and every range (for a shard that
        // does not say which model it is of).
        var wanted: [String: Set<String>] = [:]
        var wantedAnyModel: [String: Set<Range<Int>>] = [:]
        for entry in models.entries() {
            if await entry.pipelines.plan != nil { planned = true }
            for (worker, ranges) in await entry.pipelines.wantedLayers() {
                for range in ranges {
                    wanted[worker, default: []].insert(Self.shardKey(entry.key, range))
                    wantedAnyModel[worker, default: []].insert(range)
                }
            }
            // Stages on a variant hold a shard of the variant's model.
            for (worker, model, range) in await entry.pipelines.wantedVariantShards() {
                wanted[worker, default: []].insert(Self.shardKey(model, range))
            }
        }
        var unwanted: [Unload] = []
        var quarantined: [Unload] = []
        for worker in workers {
            for shard in worker.readyShards {
                if worker.quarantined {
                    quarantined.append((worker.id, worker.address, shard.sha256))
                    continue
                }
                guard planned else { continue }
                // (A shard that names no layer range matches no stage.)
                let layers = shard.layers ?? 0..<0
                let isWanted =
                    if let model = shard.model?.sha256, !model.isEmpty {
                        wanted[worker.id]?.contains(Self.shardKey(model, layers)) == true
                    } else {
                        wantedAnyModel[worker.id]?.contains(layers) == true
                    }
                if !isWanted { unwanted.append((worker.id, worker.address, shard.sha256)) }
            }
        }
        for (message, shards) in [
            ("unloading shards no pipeline uses", unwanted),
            ("unloading the shards of quarantined workers", quarantined),
        ] where !shards.isEmpty {
            logger.info(
                "\(message)",
                metadata: ["shards": "\(shards.map { "\($0.workerID)/\($0.sha256.prefix(12))" })"])
        }
        guard !unwanted.isEmpty || !quarantined.isEmpty else { return }
        await deployer.unload(unwanted + quarantined, registry: registry)
    }

    static func shardKey(_ model: String, _ layers: Range<Int>) -> String {
        "\(model)@\(layers.lowerBound)-\(layers.upperBound)"
    }

    func loadModel(_ backoff: inout Backoff) async -> ServedModel? {
        do {
            let served = try await source.load()
            models.defaultModel.set(served)
            logger.info(
                "serving model",
                metadata: [
                    "model": "\(served.reference.name)", "sha256": "\(served.reference.sha256)",
                ])
            return served
        } catch {
            logger.notice(
                "model manifest not available yet",
                metadata: ["model": "\(source.modelName)", "error": "\(error)"])
            try? await Task.sleep(for: backoff.next())
            return nil
        }
    }
}
