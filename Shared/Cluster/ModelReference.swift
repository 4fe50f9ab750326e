/// Which model: its name in the catalog and the SHA-256 of its GGUF file (lowercase hex).
public struct ModelReference: Sendable, Hashable {
    public var name: String
    public var sha256: String

    public init(name: String = "", sha256: String) {
        self.name = name
        self.sha256 = sha256
    }
}
