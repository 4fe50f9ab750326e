import GGUF

/// How a variant is made from its parent: an optional pruning step, the block type of every
/// layer weight, and optionally another type for the embedding/output matrix (which keeps
/// the parent's type otherwise). Its printed name is the variant's suffix: the variant of
/// `smollm2-135m` made with `q4_k+emb:q4_0` is served as `smollm2-135m:q4_k+emb:q4_0`.
///
/// Grammar: `[wanda50-|wanda24-]TYPE[+emb:TYPE]`, TYPE one of `quantizationTypes` in lower
/// case. Parsing ignores case; printing is lower case.
public struct VariantMethod: Sendable, Hashable, CustomStringConvertible {
    public var pruning: VariantPruning?
    /// The type every layer weight (2-D matmul tensor) is stored in.
    public var layerType: GGMLType
    /// The type of the token embedding and output matrix; nil keeps the parent's.
    public var embeddingType: GGMLType?

    /// The block types a variant may use, in the order `tessera model variants` makes them.
    public static let quantizationTypes: [GGMLType] = [
        .q8_0, .q4_0, .q4_1, .q5_0, .q5_1, .q4_K, .q5_K, .q6_K, .q3_K, .q2_K,
    ]

    /// One method per quantization type, layer weights only: the default set.
    public static let quantizationMethods: [VariantMethod] = quantizationTypes.map {
        VariantMethod(layerType: $0)
    }

    /// Every method name without an embedding choice (`+emb:TYPE` may follow any of them):
    /// what an error lists when a name is not understood.
    public static let knownNames: [String] =
        quantizationMethods.map(\.description)
        + [VariantPruning.wanda50, .wanda24].map { VariantMethod(pruning: $0, layerType: .q4_0) }
        .map(\.description)

    public init(pruning: VariantPruning? = nil, layerType: GGMLType, embeddingType: GGMLType? = nil)
    {
        self.pruning = pruning
        self.layerType = layerType
        self.embeddingType = embeddingType
    }

    /// Parses a method name; an unknown one throws with the list of known names.
    public init(parsing text: String) throws(VariantMethodError) {
        var rest = Substring(text.lowercased())
        var pruning: VariantPruning?
        for candidate in [VariantPruning.wanda50, .wanda24] where rest.hasPrefix(candidate.prefix) {
            pruning = candidate
            rest = rest.dropFirst(candidate.prefix.count)
        }
        var embeddingType: GGMLType?
        if let plus = rest.firstIndex(of: "+") {
            let suffix = rest[rest.index(after: plus)...]
            guard suffix.hasPrefix("emb:"), let type = Self.type(named: suffix.dropFirst(4)) else {
                throw .unknownMethod(text)
            }
            embeddingType = type
            rest = rest[..<plus]
        }
        guard let layerType = Self.type(named: rest) else { throw .unknownMethod(text) }
        self.init(pruning: pruning, layerType: layerType, embeddingType: embeddingType)
    }

    public var description: String {
        (pruning?.prefix ?? "") + Self.lowerName(layerType)
            + (embeddingType.map { "+emb:" + Self.lowerName($0) } ?? "")
    }

    /// The name a variant of `parent` made this way is recorded and served under.
    public func variantName(parent: String) -> String { "\(parent):\(description)" }

    static func lowerName(_ type: GGMLType) -> String { type.name.lowercased() }

    private static func type(named name: Substring) -> GGMLType? {
        quantizationTypes.first { lowerName($0) == name }
    }
}

/// The pruning step a method may start with; each is Wanda with a pattern.
public enum VariantPruning: String, Sendable, Hashable, Codable, CaseIterable {
    /// 50% of each output row's weights, unstructured.
    case wanda50
    /// Two of every four consecutive inputs (2:4 structured).
    case wanda24

    var prefix: String { rawValue + "-" }

    public var pattern: WandaPattern {
        switch self {
        case .wanda50: .unstructured(fraction: 0.5)
        case .wanda24: .twoOfFour
        }
    }
}

/// Stored and sent as its name (`"q4_k+emb:q4_0"`), the one spelling everywhere.
extension VariantMethod: Codable {
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let name = try container.decode(String.self)
        do {
            try self.init(parsing: name)
        } catch {
            throw DecodingError.dataCorruptedError(
                in: container, debugDescription: error.description)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

public enum VariantMethodError: Error, Sendable, Equatable, CustomStringConvertible {
    case unknownMethod(String)

    public var description: String {
        switch self {
        case .unknownMethod(let name):
            "unknown variant method '\(name)'; known methods: "
                + VariantMethod.knownNames.joined(separator: ", ")
                + " (each may end in +emb:TYPE to store the embedding/output matrix as TYPE too)"
        }
    }
}
