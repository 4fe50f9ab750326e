/// Why a GGUF does not describe a model Tessera can run, naming the key or tensor at fault.
public enum ArchitectureError: Error, CustomStringConvertible, Equatable, Sendable {
    case unsupportedArchitecture(String)
    case missingMetadata(key: String)
    case invalidHyperparameters(String)
    case missingTensor(name: String)
    case tensorShapeMismatch(tensor: String, expected: [Int], actual: [Int])
    case unsupportedRopeScaling(String)
    case unexpectedTensor(name: String, family: String)

    public var description: String {
        switch self {
        case .unsupportedArchitecture(let name):
            "model architecture '\(name)' is not supported (supported: \(ModelFamily.supportedList))"
        case .missingMetadata(let key): "GGUF metadata key \(key) is missing"
        case .invalidHyperparameters(let detail): "invalid model hyperparameters: \(detail)"
        case .missingTensor(let name): "tensor \(name) is missing from the GGUF file"
        case .tensorShapeMismatch(let tensor, let expected, let actual):
            "tensor \(tensor) has shape \(actual), expected \(expected)"
        case .unsupportedRopeScaling(let detail): "RoPE scaling \(detail) is not supported"
        case .unexpectedTensor(let name, let family):
            "tensor \(name) is not part of a \(family) block (the file does not match its declared architecture)"
        }
    }
}
