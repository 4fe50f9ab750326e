import GGUF

/// Why a variant could not be made, in terms of what was asked: the source, the method or
/// the disk it was written to.
public enum VariantBuildError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The source does not parse as GGUF (truncated, corrupt, not GGUF).
    case unreadableSource(path: String, reason: String)
    /// The source parses but is not a model Tessera runs.
    case unsupportedSource(path: String, reason: String)
    /// A tensor the method must convert is in a type Tessera cannot decode.
    case undecodableTensor(tensor: String, type: String)
    /// No type Tessera has fits this tensor's rows.
    case noTypeFits(tensor: String, wanted: String, rowLength: Int)
    /// A pruning method was asked for without calibration text.
    case calibrationTextMissing(method: String)
    /// Pruning (Wanda) failed, in its own words.
    case pruningFailed(method: String, reason: String)
    /// The disk filled up; the partial file was removed.
    case diskFull(path: String)
    case writeFailed(path: String, reason: String)

    public var description: String {
        switch self {
        case .unreadableSource(let path, let reason):
            "the source model \(path) cannot be read: \(reason)"
        case .unsupportedSource(let path, let reason):
            "the source model \(path) is not one Tessera runs: \(reason)"
        case .undecodableTensor(let tensor, let type):
            "tensor \(tensor) is stored as \(type), which Tessera cannot dequantize"
        case .noTypeFits(let tensor, let wanted, let rowLength):
            "tensor \(tensor) has rows of \(rowLength) values: neither \(wanted) nor a fallback type fits"
        case .calibrationTextMissing(let method):
            "method \(method) prunes with Wanda and needs a calibration text"
        case .pruningFailed(let method, let reason):
            "method \(method): pruning failed: \(reason)"
        case .diskFull(let path):
            "no space left on the device while writing \(path); the partial file was removed"
        case .writeFailed(let path, let reason):
            "cannot write \(path): \(reason)"
        }
    }
}
