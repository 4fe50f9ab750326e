import Inference
import Integrity

/// Whether this verifier can replay a receipt at all: every commitment must name the engine
/// arithmetic the verifier itself computes (`EngineArithmetic.version`). Workers of another
/// version compute other bits honestly, and judging them by this replay would slash them.
public enum ArithmeticCheck {
    /// Why the receipt cannot be replayed here, or nil when it can.
    public static func unverifiableReason(_ record: ReceiptRecord) -> String? {
        let own = EngineArithmetic.version
        for chain in record.chains {
            for commitment in chain.commitments where commitment.arithmetic != own {
                return "worker \(commitment.workerID) computed with engine arithmetic "
                    + "\(commitment.arithmetic); this verifier replays arithmetic \(own) "
                    + "(upgrade workers and verifier together)"
            }
        }
        return nil
    }
}
