import Testing

@testable import Verifier

/// The reputation and check policies' numbers.
@Suite struct VerifierPolicyTests {
    let policy = ReputationPolicy()

    @Test func oneFaultAmongFewerThanFiftyPassesQuarantines() {
        #expect(policy.score(passed: 0, failed: 0) == 1)
        #expect(policy.score(passed: 100, failed: 0) == 1)
        for passed in 0..<50 {
            #expect(policy.trust(passed: passed, failed: 1) == .quarantined, "\(passed) passed")
        }
        #expect(policy.trust(passed: 50, failed: 1) == .quarantined)  // 51/64
        #expect(policy.score(passed: 51, failed: 1) == 0.8)  // 52/65: at the line, not below
        #expect(policy.trust(passed: 51, failed: 1) == .trusted)
        #expect(policy.trust(passed: 102, failed: 2) == .quarantined)
        #expect(policy.trust(passed: 103, failed: 2) == .trusted)
        #expect(abs(policy.score(passed: 9, failed: 1) - 10.0 / 23) < 1e-12)
    }

    @Test func workersAreNewUntilEnoughPassedChecks() {
        #expect(policy.trust(passed: 0, failed: 0) == .new)
        #expect(policy.trust(passed: 19, failed: 0) == .new)
        #expect(policy.trust(passed: 20, failed: 0) == .trusted)
        var strict = policy
        strict.quarantineBelow = 0.95
        strict.faultWeight = 1
        #expect(strict.trust(passed: 30, failed: 1) == .trusted)  // 31/32 ≈ 0.97
        #expect(strict.trust(passed: 10, failed: 1) == .quarantined)  // 11/12 ≈ 0.92
    }

    @Test func theLeastTrustedWorkerSetsTheRate() {
        let checks = CheckPolicy(newWorkerRate: 1, trustedRate: 0.05, seed: 1)
        #expect(checks.rate(for: [.trusted, .trusted]) == 0.05)
        #expect(checks.rate(for: [.trusted, .new]) == 1)
        #expect(checks.rate(for: [.trusted, .quarantined]) == 1)
        #expect(checks.rate(for: [WorkerTrust]()) == 1)
        #expect(checks.selects(receiptID: "r", rate: 1))
        #expect(!checks.selects(receiptID: "r", rate: 0))
    }

    @Test func selectionIsDeterministicPerSeedAndNearTheRate() {
        let one = CheckPolicy(seed: 7)
        let again = CheckPolicy(seed: 7)
        let other = CheckPolicy(seed: 8)
        let ids = (0..<20_000).map { "rcpt-\($0)" }
        let picked = ids.filter { one.selects(receiptID: $0, rate: 0.05) }
        #expect(picked == ids.filter { again.selects(receiptID: $0, rate: 0.05) })
        #expect(picked != ids.filter { other.selects(receiptID: $0, rate: 0.05) })
        let share = Double(picked.count) / Double(ids.count)
        #expect(abs(share - 0.05) < 0.01, "\(share)")
        #expect(ids.allSatisfy { (0..<1).contains(one.draw($0)) })
    }
}
