import Foundation
import GGUF

/// The random-weight models of every family (scripts/reference/make_family_models.py) and
/// llama.cpp's logits on them (Tests/Reference/families/<model>.json, committed). The models
/// live in the model folder, never the repository: the script rebuilds them bit for bit from
/// its seeds with the gguf package alone (`--models-only`, about a second), which happens
/// here when one is missing.
enum FamilyModels {
    /// The families the script builds: llama, Llama 3.x (rope_freqs), Mistral-style llama,
    /// Qwen2, Qwen3, Phi-3, Gemma 3, and three with rarer metadata (linear RoPE scaling; an
    /// explicit sliding-window pattern, RoPE base and final logit soft cap; Phi-3's LongRoPE).
    static let families = [
        "llama", "llama3", "mistral", "qwen2", "qwen3", "phi3", "gemma3", "llama-linear",
        "gemma3-options", "phi3-longrope",
    ]
    /// Each family twice: matrices in F16 and in Q8_0 (the same values).
    static let names = families.flatMap { ["\($0)-f16", "\($0)-q8_0"] }

    /// One model's reference: llama.cpp's top-10 logits and top-1 margin at every position.
    struct Reference: Decodable {
        struct Position: Decodable {
            let top: [[Double]]  // [token id, logit], highest first
            let margin: Double
        }
        let model: String
        let architecture: String
        let matrix_type: String
        let gguf_sha256: String
        let tokens: [Int32]
        let positions: [Position]
    }

    struct GenerationFailed: Error, CustomStringConvertible {
        let output: String
        var description: String {
            "scripts/reference/make_family_models.py --models-only failed (it needs the gguf and "
                + "numpy packages, which scripts/setup installs):\n\(output)"
        }
    }

    static var directory: String { ModelLocator.modelDirectory + "/families" }

    private static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    private static let generated = Result { () throws -> Void in
        let missing = names.contains { name in
            !FileManager.default.fileExists(atPath: directory + "/\(name).gguf")
        }
        guard missing else { return }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [
            "python3",
            repository.appendingPathComponent("scripts/reference/make_family_models.py").path,
            "--models-only", "--out", directory,
        ]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw GenerationFailed(output: String(decoding: output.suffix(4000), as: UTF8.self))
        }
    }

    static func file(_ name: String) throws -> GGUFFile {
        try generated.get()
        return try GGUFFile(path: directory + "/\(name).gguf")
    }

    static func reference(_ name: String) throws -> Reference {
        let url = repository.appendingPathComponent("Tests/Reference/families/\(name).json")
        return try JSONDecoder().decode(Reference.self, from: try Data(contentsOf: url))
    }

    /// A copy of `file` with `change` applied to its tensor list (metadata kept as is).
    static func rewritten(
        _ file: GGUFFile, metadata: [String: GGUFValue] = [:],
        tensors change: ([GGUFTensorInfo]) -> [(GGUFTensorInfo, [Int])]
    ) throws -> GGUFFile {
        var writer = GGUFWriter(alignment: file.alignment)
        for key in file.metadataKeys {
            if let value = file.metadata[key] { writer.set(key, value) }
        }
        for (key, value) in metadata { writer.set(key, value) }
        for (tensor, dimensions) in change(file.tensors) {
            try writer.addTensor(
                name: tensor.name, dimensions: dimensions, type: tensor.type,
                bytes: Array(file.bytes(of: tensor)))
        }
        return try GGUFFile(bytes: try writer.encoded())
    }
}
