/// Scores, trust levels and the ledger's rewards and slashes (pure: the store applies them).
///
/// score = (passed + 1) / (passed + 1 + faultWeight · failed): 1 for a worker with no
/// failures, falling with each. With the defaults (weight 13, quarantine below 0.8) one
/// failed check quarantines a worker with at most 50 passed ones (51/64 ≈ 0.797; at 51 it
/// scores exactly 0.8), and after two it needs 103: a cheater cannot bank a few honest
/// answers and then cheat freely.
struct ReputationPolicy: Sendable, Equatable {
    var faultWeight: Double = 13
    var quarantineBelow: Double = 0.8
    /// Passed checks after which a worker (not quarantined) is trusted.
    var trustedAfter: Int = 20
    /// Ledger units per passed stage check.
    var reward: Int64 = 1
    /// Ledger units per proven fault: a fixed amount rather than a share of the deposit, so a
    /// worker that deposited little cannot make cheating cheap (100 rewards' worth).
    var slash: Int64 = 100

    func score(passed: Int, failed: Int) -> Double {
        let passed = Double(max(passed, 0)) + 1
        return passed / (passed + faultWeight * Double(max(failed, 0)))
    }

    func trust(passed: Int, failed: Int) -> WorkerTrust {
        if score(passed: passed, failed: failed) < quarantineBelow { return .quarantined }
        return passed >= trustedAfter ? .trusted : .new
    }

    func reputation(_ standing: WorkerStanding) -> Reputation {
        Reputation(
            standing: standing,
            score: score(passed: standing.checksPassed, failed: standing.checksFailed),
            trust: trust(passed: standing.checksPassed, failed: standing.checksFailed))
    }
}
