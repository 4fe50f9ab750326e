/// Why a tokenizer could not be built or a request could not be served.
public enum TokenizerError: Error, CustomStringConvertible, Equatable, Sendable {
    case missingMetadata(key: String)
    case wrongMetadataType(key: String, expected: String)
    case unsupportedModel(String)
    case unsupportedPreTokenizer(String)
    case arrayTooShort(key: String, count: Int, needed: Int)
    case invalidTokenID(Int)
    case emptyVocabulary

    public var description: String {
        switch self {
        case .missingMetadata(let key):
            "tokenizer metadata \(key) is missing from the GGUF file"
        case .wrongMetadataType(let key, let expected):
            "tokenizer metadata \(key) should be \(expected)"
        case .unsupportedModel(let name):
            "unsupported tokenizer model '\(name)' (supported: gpt2, llama)"
        case .unsupportedPreTokenizer(let name):
            "unsupported pre-tokenizer '\(name)' (supported: \(Self.supportedPreTokenizers))"
        case .arrayTooShort(let key, let count, let needed):
            "tokenizer metadata \(key) has \(count) entries, the vocabulary needs \(needed)"
        case .invalidTokenID(let id):
            "token id \(id) is outside the vocabulary"
        case .emptyVocabulary:
            "the tokenizer vocabulary is empty"
        }
    }

    static let supportedPreTokenizers =
        "gpt-2, starcoder, smollm, llama-bpe (llama3), qwen2 and names llama.cpp treats like them"
}
