import Foundation
import GGUF
import Tokenization

/// Finds the model, vocabularies and reference files the tokenizer tests compare against.
enum TestSupport {
    struct Missing: Error, CustomStringConvertible {
        let description: String
    }

    static let referenceDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Reference")

    static func modelPath() throws -> String {
        let path = ModelLocator.path(forName: ModelLocator.defaultModelName)
        guard FileManager.default.fileExists(atPath: path) else {
            throw Missing(description: "model not found at \(path): run scripts/fetch-model first")
        }
        return path
    }

    /// Loading the 49k-token SmolLM2 vocabulary once keeps the suite fast.
    static let smolLM: Result<Tokenizer, Error> = Result { try Tokenizer(path: modelPath()) }

    static func smolLMTokenizer() throws -> Tokenizer { try smolLM.get() }

    /// Vocab-only GGUFs from llama.cpp, as scripts/fetch-vocabs stores them.
    static func vocabularyPath(_ name: String) -> String {
        ModelLocator.modelDirectory + "/vocab/ggml-vocab-\(name).gguf"
    }

    static func vocabularyTokenizer(_ name: String) throws -> Tokenizer {
        let path = vocabularyPath(name)
        guard FileManager.default.fileExists(atPath: path) else {
            throw Missing(
                description:
                    "vocabulary \(name) not found at \(path): run scripts/fetch-vocabs first")
        }
        return try Tokenizer(path: path)
    }
}

/// One file of Tests/Reference/tokenization: ids llama.cpp (via llama-cpp-python) produced.
struct TokenizationReference: Decodable {
    struct Case: Decodable {
        let text: String
        let special: Bool
        let add_bos: Bool
        let ids: [Int32]
        /// llama_detokenize(ids, remove_special=false, unparse_special=true)
        let detokenized: String?
    }

    let vocab: String
    let vocab_path_hint: String?
    /// Relative to the model directory, e.g. "vocab/ggml-vocab-qwen2.gguf".
    let vocab_file: String?
    let cases: [Case]

    static func all() throws -> [(file: String, reference: TokenizationReference)] {
        let directory = TestSupport.referenceDirectory.appendingPathComponent("tokenization")
        let files = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return try files.filter { $0.hasSuffix(".json") }.sorted().map { file in
            let data = try Data(contentsOf: directory.appendingPathComponent(file))
            return (file, try JSONDecoder().decode(TokenizationReference.self, from: data))
        }
    }

    /// The tokenizer the file was made with: the default model for smollm2-135m, otherwise
    /// the vocab-only GGUF named by the file (fetched by scripts/fetch-vocabs).
    func tokenizer() throws -> Tokenizer {
        if vocab == "smollm2-135m" { return try TestSupport.smolLMTokenizer() }
        let candidates = [
            vocab_file.map { ModelLocator.modelDirectory + "/" + $0 },
            TestSupport.vocabularyPath(vocab),
            vocab_path_hint.map(Self.expand),
        ].compactMap { $0 }
        for path in candidates where FileManager.default.fileExists(atPath: path) {
            return try Tokenizer(path: path)
        }
        throw TestSupport.Missing(
            description:
                "vocabulary \(vocab) not found (tried \(candidates)): run scripts/fetch-vocabs first"
        )
    }

    private static func expand(_ hint: String) -> String {
        var path = hint.replacingOccurrences(
            of: "${TESSERA_MODEL_DIR:-$HOME/.cache/tessera/models}",
            with: ModelLocator.modelDirectory)
        path = path.replacingOccurrences(
            of: "$TESSERA_MODEL_DIR", with: ModelLocator.modelDirectory)
        if path.hasPrefix("~/") { path = NSHomeDirectory() + path.dropFirst() }
        return path
    }
}
