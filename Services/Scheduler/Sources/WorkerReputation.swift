/// What the verifier says about one worker, as placement uses it: its score, and whether
/// it is quarantined (its checks failed until its score fell below the verifier's
/// threshold). A worker the verifier does not list counts as `unscored`.
struct WorkerReputation: Sendable, Equatable {
    var score: Double
    var quarantined: Bool

    static let unscored = WorkerReputation(score: 1, quarantined: false)
}
