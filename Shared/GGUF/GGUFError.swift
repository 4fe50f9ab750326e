/// Everything that can be wrong with a GGUF file or with what a writer is asked to store.
/// Each case names the offending key or tensor so the message alone locates the problem.
public enum GGUFError: Error, CustomStringConvertible, Equatable, Sendable {
    case cannotOpen(path: String, reason: String)
    case badMagic(found: UInt32)
    case unsupportedVersion(UInt32)
    case truncated(what: String, offset: Int, needed: Int, available: Int)
    case absurdCount(what: String, count: UInt64, limit: UInt64)
    case unknownValueType(key: String, type: UInt32)
    case nestingTooDeep(key: String)
    case duplicateKey(String)
    case invalidAlignment(String)
    case invalidTensorDimensions(tensor: String, reason: String)
    case unsupportedTensorType(tensor: String, type: UInt32)
    case misalignedTensorOffset(tensor: String, offset: UInt64, alignment: Int)
    case tensorPastEnd(tensor: String, end: UInt64, dataSize: Int)
    case duplicateTensor(String)
    case notWholeBlocks(type: String, elements: Int, blockSize: Int)
    case invalidElementCount(type: String, elements: Int)
    case tensorSizeMismatch(tensor: String, expected: Int, given: Int)
    case invalidValue(key: String, reason: String)
    case writeFailed(path: String, reason: String)

    public var description: String {
        switch self {
        case .cannotOpen(let path, let reason):
            "cannot open GGUF file \(path): \(reason)"
        case .badMagic(let found):
            "not a GGUF file: magic is 0x\(String(found, radix: 16)), expected 0x46554747 (\"GGUF\")"
        case .unsupportedVersion(let v):
            "unsupported version \(v) (only GGUF v2 and v3 are read)"
        case .truncated(let what, let offset, let needed, let available):
            "file truncated reading \(what) at byte \(offset): needs \(needed) bytes, \(available) left"
        case .absurdCount(let what, let count, let limit):
            "absurd count for \(what): \(count) (at most \(limit) fit in the rest of the file)"
        case .unknownValueType(let key, let type):
            "unknown metadata value type \(type) for key \(key)"
        case .nestingTooDeep(let key):
            "metadata arrays nested too deep in key \(key)"
        case .duplicateKey(let key):
            "duplicate metadata key \(key)"
        case .invalidAlignment(let reason):
            "invalid general.alignment: \(reason)"
        case .invalidTensorDimensions(let tensor, let reason):
            "invalid dimensions in tensor \(tensor): \(reason)"
        case .unsupportedTensorType(let tensor, let type):
            "unsupported tensor type \(type) in tensor \(tensor)"
        case .misalignedTensorOffset(let tensor, let offset, let alignment):
            "tensor \(tensor) has offset \(offset), not a multiple of the alignment \(alignment)"
        case .tensorPastEnd(let tensor, let end, let dataSize):
            "tensor \(tensor) ends at data byte \(end), past the end of the tensor data (\(dataSize) bytes)"
        case .duplicateTensor(let name):
            "duplicate tensor name \(name)"
        case .notWholeBlocks(let type, let elements, let blockSize):
            "\(elements) elements of type \(type) are not a whole number of \(blockSize)-element blocks"
        case .invalidElementCount(let type, let elements):
            "invalid element count \(elements) for type \(type)"
        case .tensorSizeMismatch(let tensor, let expected, let given):
            "tensor \(tensor) needs \(expected) bytes, \(given) given"
        case .invalidValue(let key, let reason):
            "invalid metadata value for key \(key): \(reason)"
        case .writeFailed(let path, let reason):
            "cannot write GGUF file \(path): \(reason)"
        }
    }
}
