import ModelArchitecture

/// Everything the engine refuses, with enough detail to act on.
public enum InferenceError: Error, CustomStringConvertible, Equatable, Sendable {
    case missingMetadata(key: String)
    case unsupportedArchitecture(String)
    case invalidHyperparameters(String)
    case missingTensor(name: String)
    case unsupportedTensorType(tensor: String, type: String)
    case tensorShapeMismatch(tensor: String, expected: [Int], actual: [Int])
    case invalidLayerRange(first: Int, last: Int, layerCount: Int)
    case contextOverflow(position: Int, tokens: Int, contextLength: Int)
    case invalidContextLength(Int)
    case hiddenSizeMismatch(expected: Int, actual: Int)
    case tokenOutOfRange(token: Int32, vocabularySize: Int)
    case wrongInput(String)
    case emptyInput
    /// The file does not match its declared family (an unknown block tensor, an
    /// unsupported RoPE scaling), in the architecture description's words.
    case modelMismatch(String)

    public var description: String {
        switch self {
        case .missingMetadata(let key): "GGUF metadata key \(key) is missing"
        case .unsupportedArchitecture(let name):
            ArchitectureError.unsupportedArchitecture(name).description
        case .invalidHyperparameters(let detail): "invalid model hyperparameters: \(detail)"
        case .missingTensor(let name): "tensor \(name) is missing from the GGUF file"
        case .unsupportedTensorType(let tensor, let type):
            "tensor \(tensor) has type \(type), which the engine cannot run"
        case .tensorShapeMismatch(let tensor, let expected, let actual):
            "tensor \(tensor) has shape \(actual), expected \(expected)"
        case .invalidLayerRange(let first, let last, let count):
            "layer range [\(first), \(last)) is not a non-empty range within the model's \(count) layers"
        case .contextOverflow(let position, let tokens, let contextLength):
            "context overflow: \(tokens) token(s) at position \(position) exceed the session's context of \(contextLength)"
        case .invalidContextLength(let length): "context length \(length) must be positive"
        case .hiddenSizeMismatch(let expected, let actual):
            "hidden state has \(actual) values, expected a positive multiple of the embedding width \(expected)"
        case .tokenOutOfRange(let token, let vocabularySize):
            "token id \(token) is outside the vocabulary 0..<\(vocabularySize)"
        case .wrongInput(let detail): detail
        case .emptyInput: "no tokens to process"
        case .modelMismatch(let detail): detail
        }
    }
}
