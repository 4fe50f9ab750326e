import Inference
import Integrity

/// How one stage of a receipt fared in a replay: the worst distance over the commitments of
/// that stage (worker and layer range) that were compared.
public struct StageCheckResult: Sendable, Equatable {
    public var workerID: String
    public var layers: Range<Int>
    /// Commitments compared (one per step, or per piece of a step cut into messages).
    public var steps: Int
    public var minCosine: Double
    public var maxRelativeError: Double
    public var maxNormError: Double
    public var passed: Bool
    /// Last stage: sampled tokens the replay checked, and those it could not (with why):
    /// an unchecked token is never counted as a passed one.
    public var tokensChecked: Int = 0
    public var tokensUnchecked: Int = 0
    public var uncheckedReason: String?

    public init(
        workerID: String, layers: Range<Int>, steps: Int, minCosine: Double,
        maxRelativeError: Double, maxNormError: Double, passed: Bool, tokensChecked: Int = 0,
        tokensUnchecked: Int = 0, uncheckedReason: String? = nil
    ) {
        self.workerID = workerID
        self.layers = layers
        self.steps = steps
        self.minCosine = minCosine
        self.maxRelativeError = maxRelativeError
        self.maxNormError = maxNormError
        self.passed = passed
        self.tokensChecked = tokensChecked
        self.tokensUnchecked = tokensUnchecked
        self.uncheckedReason = uncheckedReason
    }
}

/// The stage a replay proved wrong: the first one (lowest layers) that failed, and why.
public struct ReplayFault: Sendable, Equatable {
    public var workerID: String
    public var layers: Range<Int>
    public var reason: String

    public init(workerID: String, layers: Range<Int>, reason: String) {
        self.workerID = workerID
        self.layers = layers
        self.reason = reason
    }
}

/// A replay's verdict. `fault == nil` means every compared stage stayed within the tolerance
/// and every sampled token was one the declared sampler could pick — unless
/// `unverifiableReason` says no replay could judge the receipt (then nothing ran).
public struct ReplayOutcome: Sendable {
    public var stages: [StageCheckResult]
    public var fault: ReplayFault?
    /// Wall-clock seconds the replay computed (for the share of compute checking costs).
    public var computeSeconds: Double
    /// Set when the commitments were computed by an arithmetic this verifier does not run.
    public var unverifiableReason: String?

    public init(
        stages: [StageCheckResult], fault: ReplayFault?, computeSeconds: Double,
        unverifiableReason: String? = nil
    ) {
        self.stages = stages
        self.fault = fault
        self.computeSeconds = computeSeconds
        self.unverifiableReason = unverifiableReason
    }

    public static func unverifiable(_ reason: String) -> ReplayOutcome {
        ReplayOutcome(stages: [], fault: nil, computeSeconds: 0, unverifiableReason: reason)
    }
}

/// Recomputes a receipt's steps from its tokens on the shards its stages named. Throws only
/// for the verifier's own trouble (a shard it cannot fetch): then there is no verdict, and the
/// receipt stays pending to be tried again; it never invents one.
public protocol ReceiptReplaying: Sendable {
    func replay(_ record: ReceiptRecord, sampling: SamplingParameters) async throws -> ReplayOutcome
}
