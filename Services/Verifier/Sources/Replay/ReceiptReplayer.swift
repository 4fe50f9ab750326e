import Inference
import Integrity
import ServiceKit

/// Replays a receipt on the shards its workers named: every attempt's pipeline is rebuilt
/// from its commitments and its steps run in order exactly as the workers ran them (the
/// same paths, pieces and rewinds), each commitment's fingerprint compared with the replay's
/// output and each sampled token with what the declared sampler picks from the replayed
/// logits. The fault is the first failing stage of the first failing step.
public struct ReceiptReplayer: ReceiptReplaying {
    public let source: any ShardSource
    public let tolerance: FingerprintTolerance
    /// Greedy near-ties: a committed token within `tieMargin` × max(1, |max logit|) of the
    /// replay's best counts as the argmax (honest noise can flip a genuine tie).
    public let tieMargin: Double
    private let stages: ReplayStageCache

    /// `threads` per stage's forward passes; `cachedStages` loaded stages kept for the next
    /// receipts. The tie margin defaults to the fingerprint tolerance's relative error.
    public init(
        source: any ShardSource, tolerance: FingerprintTolerance = FingerprintTolerance(),
        tieMargin: Double? = nil, threads: Int = 1, cachedStages: Int = 8
    ) {
        self.source = source
        self.tolerance = tolerance
        self.tieMargin = tieMargin ?? tolerance.relativeError
        stages = ReplayStageCache(capacity: cachedStages, threads: threads)
    }

    public func replay(_ record: ReceiptRecord, sampling: SamplingParameters) async throws
        -> ReplayOutcome
    {
        if let reason = ArithmeticCheck.unverifiableReason(record) {
            return .unverifiable(reason)
        }
        let attempts = ReplayPlanner.attempts(of: record)
        // The verifier's part first (it may throw): every shard to run, loaded or on disk.
        var loaded: [ReplayStageCache.Key: ReplayStage] = [:]
        var paths: [String: String] = [:]
        for attempt in attempts {
            guard attempt.fault == nil else { break }  // the replay stops there
            for stage in attempt.stages where loaded[stage.key] == nil {
                if let cached = stages.cached(stage.key) {
                    loaded[stage.key] = cached
                } else if paths[stage.shardSHA256] == nil {
                    paths[stage.shardSHA256] = try await source.path(forShard: stage.shardSHA256)
                }
            }
        }
        let run = ReplayRun(
            record: record, sampling: sampling, tolerance: tolerance, tieMargin: tieMargin,
            stages: stages, loaded: loaded, paths: paths)
        // Forward passes block their thread: off the cooperative pool.
        return try await Offload.run {
            let clock = ContinuousClock()
            let started = clock.now
            let tally = run.replay(attempts)
            return ReplayOutcome(
                stages: tally.stages, fault: tally.fault,
                computeSeconds: (clock.now - started).inSeconds)
        }
    }
}

/// One receipt's replay on a verifier thread: attempt after attempt, step after step.
struct ReplayRun: Sendable {
    let record: ReceiptRecord
    let sampling: SamplingParameters
    let tolerance: FingerprintTolerance
    let tieMargin: Double
    let stages: ReplayStageCache
    /// Stages already loaded when the replay began, and files for the others.
    let loaded: [ReplayStageCache.Key: ReplayStage]
    let paths: [String: String]

    func replay(_ attempts: [PlannedAttempt]) -> ReplayTally {
        var tally = ReplayTally(record: record)
        for attempt in attempts {
            guard replay(attempt, &tally) else { break }
        }
        return tally
    }

    /// Returns false when the attempt could not be replayed to its end (the fault is noted).
    private func replay(_ attempt: PlannedAttempt, _ tally: inout ReplayTally) -> Bool {
        if let fault = attempt.fault {
            tally.fail(fault)
            return false
        }
        var pipeline: [ReplayStage] = []
        for stage in attempt.stages {
            let shard = "attempt \(attempt.attempt): shard \(stage.shardSHA256)"
            let loaded: ReplayStage
            do {
                loaded = try load(stage)
            } catch {
                tally.fail(stage, "\(shard) for layers \(stage.layers.layerSpan): \(error)")
                return false
            }
            // Stages of one pipeline are cuts of the receipt's model (so their rows fit).
            let model = record.receipt.modelSHA256
            if let cutFrom = loaded.modelSHA256, !model.isEmpty, cutFrom != model {
                tally.fail(
                    stage, "\(shard) was cut from model \(cutFrom), not the receipt's \(model)")
                return false
            }
            if let first = pipeline.first,
                loaded.hyperparameters.embeddingLength != first.hyperparameters.embeddingLength
                    || loaded.hyperparameters.layerCount != first.hyperparameters.layerCount
            {
                tally.fail(stage, "\(shard) is not a part of the model the first stage runs")
                return false
            }
            pipeline.append(loaded)
        }
        guard let first = pipeline.first, let last = pipeline.last,
            let lastPlanned = attempt.stages.last
        else { return true }
        let hp = first.hyperparameters
        guard last.stage.isLast else {
            tally.fail(
                lastPlanned,
                "attempt \(attempt.attempt): the pipeline stops at layer "
                    + "\(lastPlanned.layers.upperBound) of the model's \(hp.layerCount)")
            return false
        }
        let tokens = record.promptTokens + record.outputTokens
        let reach = attempt.steps.map(\.range.upperBound).max() ?? 0
        var replay: AttemptReplay
        do {
            replay = try AttemptReplay(
                planned: attempt.stages, stages: pipeline,
                contextLength: min(reach, hp.contextLength), tokens: tokens,
                tolerance: tolerance,
                sampled: SampledTokenCheck(
                    sampling: sampling, lastStage: last, outputStart: record.promptTokens.count,
                    tieMargin: tieMargin))
        } catch {
            tally.fail(attempt.stages[0], "attempt \(attempt.attempt): \(error)")
            return false
        }
        for step in attempt.steps {
            if let fault = step.fault {
                tally.fail(fault)
                return false
            }
            guard step.range.upperBound <= hp.contextLength else {
                tally.fail(
                    attempt.stages[0],
                    "step \(step.number): \(step.range.count) token(s) at position "
                        + "\(step.range.lowerBound) exceed the model's context of \(hp.contextLength)"
                )
                return false
            }
            guard replay.run(step, tally: &tally) else { return false }
        }
        return true
    }

    private func load(_ stage: PlannedStage) throws -> ReplayStage {
        if let ready = loaded[stage.key] { return ready }
        guard let path = paths[stage.shardSHA256] else {
            throw ReplayStageError.unusable("the verifier did not fetch it")
        }
        return try stages.stage(stage.key, path: path)
    }
}
