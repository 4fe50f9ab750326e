import Cluster
import Integrity

/// One stage of an attempt's pipeline, as its commitments name it.
struct PlannedStage: Sendable, Equatable {
    var workerID: String
    var layers: Range<Int>
    var shardSHA256: String

    var key: ReplayStageCache.Key { .init(sha256: shardSHA256, layers: layers) }
}

/// One reply's step: the tokens it covered and each stage's commitments, by position. Every
/// stage's commitments tile `range`: a stage that sends on commits once per message it sent
/// (which is one call of the next stage), the last stage once per message it received.
struct PlannedStep: Sendable {
    var number: UInt64
    var range: Range<Int>
    var replay: Bool
    /// Per pipeline stage, first stage first.
    var commitments: [[StepCommitment]]
    /// A claim that makes the step impossible to replay; raised when the replay reaches it.
    var fault: ReplayFault?
}

/// One pipeline of a receipt (the first, or one after a failover) and its steps in order.
struct PlannedAttempt: Sendable {
    var attempt: Int
    /// Ordered by layers, each starting where the one before stops, the first at layer 0.
    var stages: [PlannedStage]
    var steps: [PlannedStep]
    /// A pipeline that cannot be rebuilt from its commitments.
    var fault: ReplayFault?
}

/// Reads a record's commitments into attempts, checking only what needs no shard: that a
/// pipeline's stages are consistent and contiguous, and that each step's commitments cover
/// its tokens in consecutive pieces. Whatever breaks that is the fault of the worker whose
/// commitment says it (a verdict, not a crash).
enum ReplayPlanner {
    static func attempts(of record: ReceiptRecord) -> [PlannedAttempt] {
        let tokenCount = record.promptTokens.count + record.outputTokens.count
        let numbers = Set(record.chains.map(\.attempt)).sorted()
        return numbers.map { number in
            let chains = record.chains.filter { $0.attempt == number && !$0.commitments.isEmpty }
            var attempt = pipeline(number, commitments: chains.flatMap(\.commitments))
            guard attempt.fault == nil else { return attempt }
            attempt.steps = chains.map {
                step($0.commitments, stages: attempt.stages, tokenCount: tokenCount)
            }
            return attempt
        }
    }

    /// The attempt's stages: one (worker, shard) per layer range, the ranges contiguous from 0.
    static func pipeline(_ number: Int, commitments: [StepCommitment]) -> PlannedAttempt {
        var attempt = PlannedAttempt(attempt: number, stages: [], steps: [])
        func fault(_ commitment: StepCommitment, _ reason: String) -> PlannedAttempt {
            attempt.fault = ReplayFault(
                workerID: commitment.workerID, layers: commitment.layers,
                reason: "attempt \(number): \(reason)")
            return attempt
        }
        var byLayers: [Range<Int>: PlannedStage] = [:]
        for commitment in commitments {
            let sha = commitment.shardSHA256.lowercased()
            let layers = commitment.layers
            guard ShardReference.isValidHash(sha) else {
                return fault(commitment, "names shard '\(commitment.shardSHA256)', not a SHA-256")
            }
            guard !layers.isEmpty, layers.lowerBound >= 0 else {
                return fault(commitment, "names the empty layer range \(layers.layerSpan)")
            }
            let stage = PlannedStage(
                workerID: commitment.workerID, layers: layers, shardSHA256: sha)
            if let known = byLayers[layers], known != stage {
                return fault(
                    commitment,
                    "claims layers \(layers.layerSpan) on shard \(sha), which worker \(known.workerID) "
                        + "served on shard \(known.shardSHA256) in this pipeline")
            }
            byLayers[layers] = stage
        }
        let stages = byLayers.values.sorted {
            ($0.layers.lowerBound, $0.layers.upperBound) < (
                $1.layers.lowerBound, $1.layers.upperBound
            )
        }
        var stops = 0
        for stage in stages {
            guard stage.layers.lowerBound == stops else {
                let commitment = commitments.first { $0.layers == stage.layers }!
                return fault(
                    commitment,
                    "its stage \(stage.layers.layerSpan) starts at layer \(stage.layers.lowerBound), but "
                        + (stops == 0
                            ? "a pipeline starts at layer 0"
                            : "the stage before it stops at layer \(stops)"))
            }
            stops = stage.layers.upperBound
        }
        attempt.stages = stages
        return attempt
    }

    /// One reply's commitments by stage; the step's tokens are the first stage's pieces.
    static func step(_ commitments: [StepCommitment], stages: [PlannedStage], tokenCount: Int)
        -> PlannedStep
    {
        let byStage = stages.map { stage in
            commitments.filter { $0.layers == stage.layers }.sorted { $0.position < $1.position }
        }
        let first = byStage[0]
        let number = commitments[0].step
        let start = first.first?.position ?? 0
        let end = first.last.map { $0.position + $0.count } ?? 0
        var step = PlannedStep(
            number: number, range: start..<max(start, end), replay: first.first?.replay ?? false,
            commitments: byStage)
        for (stage, pieces) in zip(stages, byStage) {
            if let reason = tiling(pieces, of: step.range, step: number) {
                step.fault = ReplayFault(
                    workerID: stage.workerID, layers: stage.layers, reason: reason)
                return step
            }
        }
        if stages.count > 1, let last = stages.last,
            byStage[stages.count - 1].map(\.positions) != byStage[stages.count - 2].map(\.positions)
        {
            step.fault = ReplayFault(
                workerID: last.workerID, layers: last.layers,
                reason: "step \(number): it commits to positions "
                    + byStage[stages.count - 1].map(\.positions.layerSpan).joined(separator: " ")
                    + ", but the stage before sent "
                    + byStage[stages.count - 2].map(\.positions.layerSpan).joined(separator: " "))
            return step
        }
        if step.range.upperBound > tokenCount {
            step.fault = ReplayFault(
                workerID: stages[0].workerID, layers: stages[0].layers,
                reason:
                    "step \(number) names positions \(step.range.layerSpan), but the receipt holds "
                    + "\(tokenCount) tokens")
        }
        return step
    }

    /// Why `pieces` do not cover `range` in consecutive, non-empty pieces; nil when they do.
    static func tiling(_ pieces: [StepCommitment], of range: Range<Int>, step: UInt64) -> String? {
        guard !pieces.isEmpty else { return "step \(step) carries no commitment of this stage" }
        var next = range.lowerBound
        for piece in pieces {
            guard piece.count > 0, piece.position >= 0 else {
                return "step \(step): a commitment covers \(piece.count) token(s) at position "
                    + "\(piece.position)"
            }
            guard piece.position == next else {
                return "step \(step): its commitments cover "
                    + pieces.map { "[\($0.position), \($0.position + $0.count))" }.joined(
                        separator: " ")
                    + ", not the step's positions \(range.layerSpan) in consecutive pieces"
            }
            next += piece.count
        }
        guard next == range.upperBound else {
            return "step \(step): its commitments end at position \(next), the step's tokens at "
                + "\(range.upperBound)"
        }
        return nil
    }
}

extension StepCommitment {
    /// The positions of the tokens this commitment covers.
    var positions: Range<Int> { position..<(position + count) }
}
