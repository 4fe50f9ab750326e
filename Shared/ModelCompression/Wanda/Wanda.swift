import Foundation

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
    /// prunes each layer weight by |weight| × input norm. Tensors outside the blocks (token
    /// embedding, output projection) pass unchanged.
    public static func transform(
        modelPath: String, calibrationText: String, pattern: WandaPattern,
        progress: @escaping @Sendable (Double) -> Void
    ) throws -> TensorTransform {
        let norms = try Calibration.inputNorms(
            modelPath: modelPath, text: calibrationText, progress: progress)
        return transform(norms: norms, pattern: pattern)
    }

    /// The pruning transform for norms gathered already.
    public static func transform(norms: InputNorms, pattern: WandaPattern) -> TensorTransform {
        return { name, values, rows, columns in
            guard let (layer, site) = WandaTensorSite.site(of: name) else { return }
            guard let columnNorms = norms.norms(layer: layer, site: site) else {
                throw WandaError.missingNorms(tensor: name)
            }
            try WandaPruning.prune(
                &values, rows: rows, columns: columns, norms: columnNorms, pattern: pattern)
        }
    }
}
