import Foundation
import Integrity

/// The signed commitment a stage makes to a direct decode step it sends on. It follows the step
/// in a message of its own (made while the next stage computes); to a next stage that predates
/// that, it travels inside the step and is on the token's path.
extension HopMessages {
    struct CommitmentCost {
        /// Mean seconds for the whole commitment: input and output digests, the output's
        /// fingerprint, the canonical bytes and the Ed25519 signature.
        var whole: Double
        /// Of which the signature over the canonical bytes.
        var signature: Double
    }

    /// A middle stage's commitment to one `width`-wide row, made `rounds` times.
    static func commitmentCost(width: Int, rounds: Int) -> CommitmentCost {
        let identity = SigningIdentity()
        let input = (0..<width).map { Float($0 % 97) * 0.01 }
        let output = input.map { $0 * 1.5 + 0.25 }
        let clock = ContinuousClock()
        var signatures = 0
        let start = clock.now
        var commitment = make(input: input, output: output, width: width)
        for _ in 0..<rounds {
            commitment = make(input: input, output: output, width: width)
            commitment.sign(with: identity)
            signatures += commitment.signature.count
        }
        let whole = (clock.now - start).inSeconds / Double(rounds)
        let bytes = commitment.signedBytes
        let signing = clock.now
        for _ in 0..<rounds { signatures += identity.sign(bytes).count }
        let signature = (clock.now - signing).inSeconds / Double(rounds)
        precondition(signatures == 128 * rounds, "every signature is 64 bytes")
        return CommitmentCost(whole: whole, signature: signature)
    }

    private static func make(input: [Float], output: [Float], width: Int) -> StepCommitment {
        StepCommitment(
            workerID: "worker-1", sessionID: "session-1", step: 1, layers: 0..<10,
            shardSHA256: String(repeating: "a", count: 64), position: 100, count: 1,
            inputDigest: Digests.floats(input), outputDigest: Digests.floats(output),
            fingerprint: ActivationFingerprint(values: output, width: width).encoded,
            isLastStage: false, sampledToken: 0, replay: false, arithmetic: 2,
            unixMilliseconds: Int64((Date().timeIntervalSince1970 * 1000).rounded()))
    }
}
