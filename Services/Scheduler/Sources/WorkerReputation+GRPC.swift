import TesseraProto

// The verifier's reputations as the scheduler keeps them (the one place they convert).

extension WorkerReputation {
    init(_ reputation: Tessera_V1_Reputation) {
        self.init(score: reputation.score, quarantined: reputation.trust == .quarantined)
    }
}
