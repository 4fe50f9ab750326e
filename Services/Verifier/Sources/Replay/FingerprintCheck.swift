import Foundation
import Integrity

/// A commitment's fingerprint against the replay's rows for the same tokens.
enum FingerprintCheck {
    enum Verdict {
        /// Compared: the distance, and why it is outside the tolerance (nil when within).
        case compared(FingerprintDistance, failure: String?)
        /// The fingerprint cannot be read or does not describe these rows.
        case unreadable(String)
    }

    /// `rows` are the replay's output rows of the commitment's tokens (`width` values each):
    /// hidden states, or at the last stage the logits of the last position.
    static func check(
        _ commitment: StepCommitment, rows: ArraySlice<Float>, width: Int,
        tolerance: FingerprintTolerance
    ) -> Verdict {
        let at = "step \(commitment.step), positions \(commitment.positions.layerSpan)"
        let fingerprint: ActivationFingerprint
        let distance: FingerprintDistance
        do {
            fingerprint = try ActivationFingerprint(encoded: commitment.fingerprint)
            guard fingerprint.width == width else {
                return .unreadable(
                    "\(at): the fingerprint's rows are \(fingerprint.width) wide; this stage's "
                        + "output rows are \(width)")
            }
            distance = try fingerprint.distance(toReplayed: rows)
        } catch {
            return .unreadable("\(at): \(error)")
        }
        guard !distance.within(tolerance) else { return .compared(distance, failure: nil) }
        return .compared(
            distance,
            failure: "\(at): relative error \(format(distance.relativeError)) (limit "
                + "\(format(tolerance.relativeError))), norm error \(format(distance.normError)) "
                + "(limit \(format(tolerance.normError))), cosine \(format(distance.cosine))")
    }

    static func format(_ value: Double) -> String { String(format: "%.3g", value) }
}
