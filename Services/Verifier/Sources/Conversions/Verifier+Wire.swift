import Integrity
import TesseraProto

// The verifier's domain types as the wire carries them, in one place.

extension Tessera_V1_ReceiptState {
    init(_ state: ReceiptState) {
        switch state {
        case .pending: self = .pending
        case .verified: self = .verified
        case .failed: self = .failed
        case .unverifiable: self = .unverifiable
        }
    }
}

extension Tessera_V1_WorkerTrust {
    init(_ trust: WorkerTrust) {
        switch trust {
        case .new: self = .new
        case .trusted: self = .trusted
        case .quarantined: self = .quarantined
        }
    }
}

extension Tessera_V1_StageCheck {
    init(_ check: StageCheckResult) {
        self.init()
        workerID = check.workerID
        layers = Tessera_V1_LayerRange(check.layers)
        steps = UInt32(clamping: check.steps)
        minCosine = check.minCosine
        maxNormError = check.maxNormError
        maxRelativeError = check.maxRelativeError
        passed = check.passed
    }
}

extension Tessera_V1_ReceiptStatus {
    init(_ status: ReceiptStatus) {
        self.init()
        receipt = Tessera_V1_Receipt(status.receipt)
        state = Tessera_V1_ReceiptState(status.state)
        if let fault = status.fault {
            faultWorkerID = fault.workerID
            faultLayers = Tessera_V1_LayerRange(fault.layers)
        }
        reason = status.reason
        stageChecks = status.stageChecks.map(Tessera_V1_StageCheck.init)
        checkedUnixMs = status.checkedUnixMilliseconds ?? 0
        canary = status.canary
    }
}

extension Tessera_V1_Reputation {
    init(_ reputation: Reputation) {
        self.init()
        let standing = reputation.standing
        workerID = standing.workerID
        score = reputation.score
        checksPassed = UInt64(max(standing.checksPassed, 0))
        checksFailed = UInt64(max(standing.checksFailed, 0))
        slashed = standing.slashed
        trust = Tessera_V1_WorkerTrust(reputation.trust)
        deposit = standing.deposit
        balance = standing.balance
        publicKey = .init(standing.publicKey ?? [])
    }
}

extension Tessera_V1_GetInclusionProofResponse {
    init(_ proof: InclusionProof) {
        self.init()
        receipt = Tessera_V1_Receipt(proof.receipt)
        proofs = proof.leaves.map { leaf in
            .with {
                $0.commitment = Tessera_V1_Commitment(leaf.commitment)
                $0.leafIndex = UInt32(leaf.index)
                $0.path = leaf.path.map { .init($0) }
            }
        }
    }
}
