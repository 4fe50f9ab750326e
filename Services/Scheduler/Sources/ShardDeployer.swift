import GRPCCore
import Logging
import ServiceKit
import TesseraProto

/// Makes planned stages ready: the cache-manager cuts (or finds) the stage's shard, and the
/// worker is asked to load it. Stages deploy concurrently, as children of the plan loop's
/// task group; a failure leaves the stage unready and it is tried again on a later tick.
/// The worker answers with its session slots with the shard loaded, recorded before the
/// stage counts as ready, so routing never counts on slots a worker derived before.
struct ShardDeployer: Sendable {
    let source: ModelSource
    let workers: ClientPool
    let registry: WorkerRegistry
    /// Tokens per session the plan reserves KV memory for, told to the workers.
    let contextLength: Int
    let logger: Logger

    /// Starts a deployment in `group` for every stage that should load its shard now, and
    /// returns without waiting for them.
    func deployPending(
        model: ServedModel, pipelines: LivePipelines, in group: inout DiscardingTaskGroup
    ) async {
        for (pipelineID, index, stage) in await pipelines.claimDeployments() {
            group.addTask {
                let shard = await deploy(stage, model: model)
                await pipelines.deployed(pipelineID: pipelineID, index: index, shard: shard)
            }
        }
    }

    /// Frees shards the plan no longer uses, so the new plan's shards fit (best effort: a
    /// dead worker's shards went with it). The registry forgets each shard a worker let go
    /// of, so the next tick does not ask again before the worker's next heartbeat.
    func unload(
        _ shards: [(workerID: String, address: ListenAddress, sha256: String)],
        registry: WorkerRegistry
    ) async {
        for (workerID, address, sha) in shards {
            guard let client = try? workers.client(for: address) else { continue }
            do {
                _ = try await Tessera_V1_InferenceWorker.Client(wrapping: client)
                    .unloadShard(.with { $0.shardSha256 = sha }, options: .timeout(.seconds(5)))
            } catch let error as RPCError where error.code == .notFound {
                // Already gone.
            } catch {
                continue
            }
            registry.forgetReadyShard(sha, on: workerID)
        }
    }

    private func deploy(_ stage: LivePipelines.LiveStage, model: ServedModel) async
        -> ShardReference?
    {
        do {
            let shard = try await source.shard(
                model: model, layers: stage.layers, variant: stage.variantSHA256)
            let worker = Tessera_V1_InferenceWorker.Client(
                wrapping: try workers.client(for: stage.address))
            let response = try await worker.loadShard(
                .with {
                    $0.shard = Tessera_V1_ShardRef(shard)
                    $0.cacheManagerAddress = source.cacheManagerAddress.description
                    $0.contextLength = UInt32(clamping: contextLength)
                }, options: .timeout(.seconds(300)))
            registry.recordSessionSlots(Int(response.sessionSlots), of: stage.workerID)
            ServingMetrics.shardLoaded(
                model: model.reference.name, bytes: Int(clamping: shard.sizeBytes),
                downloaded: response.downloaded)
            logger.info(
                "shard ready",
                metadata: [
                    "worker": "\(stage.workerID)",
                    "layers": "\(stage.layers.lowerBound)-\(stage.layers.upperBound)",
                    "variant": "\(stage.variant ?? "-")",
                    "downloaded": "\(response.downloaded)", "seconds": "\(response.seconds)",
                    "session_slots": "\(response.sessionSlots)",
                ])
            return shard
        } catch {
            if Task.isCancelled { return nil }  // shutting down: not a failure worth a warning
            // A worker restarted under the same host name may have a new IP (a container
            // restarted by its engine): a fresh client resolves the name again.
            if let rpcError = error as? RPCError, rpcError.code == .unavailable {
                workers.remove(stage.address)
            }
            logger.warning(
                "shard deployment failed",
                metadata: ["worker": "\(stage.workerID)", "error": "\(error)"])
            try? await Task.sleep(for: .seconds(1))
            return nil
        }
    }
}
