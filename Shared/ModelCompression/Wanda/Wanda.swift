// PLACEHOLDER (issue 13, being written): the Wanda pruning entry point the variant builder
// calls. Replace the body; keep the signature (the variant builder is written against it).

/// Which weights Wanda removes in each output row.
public enum WandaPattern: Sendable, Hashable, Codable {
    /// The given fraction of each row (0.5 = 50%).
    case unstructured(fraction: Double)
    /// Two of every four consecutive inputs (2:4 structured sparsity).
    case twoOfFour
}

public enum Wanda {
    /// Runs `calibrationText` through the model at `modelPath` with Tessera's engine, gathers
    /// the L2 norm of every linear layer's input columns, and returns the transform that
    /// prunes each layer weight by |weight| × input norm.
    public static func transform(
        modelPath: String, calibrationText: String, pattern: WandaPattern,
        progress: @escaping @Sendable (Double) -> Void
    ) throws -> TensorTransform {
        throw WandaNotReady()
    }
}

struct WandaNotReady: Error, CustomStringConvertible {
    var description: String { "Wanda pruning is not built yet" }
}
