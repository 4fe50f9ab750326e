import Integrity

/// What a replay found so far: per stage (worker and layers) the worst distances and the
/// token checks, and the first fault. The replay goes through steps in order and through a
/// step's stages in layer order, so the first fault noted is the first failing stage of the
/// first failing step.
struct ReplayTally: Sendable {
    private struct Key: Hashable {
        var workerID: String
        var layers: Range<Int>
    }

    private var results: [Key: StageCheckResult] = [:]
    private(set) var fault: ReplayFault?

    /// Lists every stage a record names, so one the replay never reached shows as unchecked.
    init(record: ReceiptRecord) {
        for commitment in record.leaves { _ = slot(commitment.workerID, commitment.layers) }
    }

    /// Notes one compared commitment; a failing one also notes the fault.
    mutating func compared(
        _ stage: PlannedStage, distance: FingerprintDistance, failure: String?
    ) {
        let key = slot(stage.workerID, stage.layers)
        results[key]!.steps += 1
        results[key]!.minCosine = min(results[key]!.minCosine, distance.cosine)
        results[key]!.maxRelativeError = max(
            results[key]!.maxRelativeError, distance.relativeError)
        results[key]!.maxNormError = max(results[key]!.maxNormError, distance.normError)
        if let failure { fail(stage.workerID, stage.layers, failure) }
    }

    mutating func tokenChecked(_ stage: PlannedStage, failure: String?) {
        results[slot(stage.workerID, stage.layers)]!.tokensChecked += 1
        if let failure { fail(stage.workerID, stage.layers, failure) }
    }

    mutating func tokenUnchecked(_ stage: PlannedStage, reason: String) {
        let key = slot(stage.workerID, stage.layers)
        results[key]!.tokensUnchecked += 1
        results[key]!.uncheckedReason = results[key]!.uncheckedReason ?? reason
    }

    mutating func fail(_ stage: PlannedStage, _ reason: String) {
        fail(stage.workerID, stage.layers, reason)
    }

    mutating func fail(_ fault: ReplayFault) {
        fail(fault.workerID, fault.layers, fault.reason)
    }

    private mutating func fail(_ workerID: String, _ layers: Range<Int>, _ reason: String) {
        results[slot(workerID, layers)]!.passed = false
        if fault == nil { fault = ReplayFault(workerID: workerID, layers: layers, reason: reason) }
    }

    /// Stages by layers. A stage passed when it had commitments compared and none failed.
    var stages: [StageCheckResult] {
        results.values.map { result in
            var result = result
            result.passed = result.passed && result.steps > 0
            return result
        }.sorted {
            ($0.layers.lowerBound, $0.layers.upperBound, $0.workerID)
                < ($1.layers.lowerBound, $1.layers.upperBound, $1.workerID)
        }
    }

    private mutating func slot(_ workerID: String, _ layers: Range<Int>) -> Key {
        let key = Key(workerID: workerID, layers: layers)
        if results[key] == nil {
            results[key] = StageCheckResult(
                workerID: workerID, layers: layers, steps: 0, minCosine: 1, maxRelativeError: 0,
                maxNormError: 0, passed: true)
        }
        return key
    }
}
