import GGUF

/// What a tensor does in the forward pass; the engine loads tensors by role.
public enum TensorRole: Sendable, Hashable {
    case tokenEmbedding, outputNorm, output, ropeFrequencyFactors, ropeLongFactors
    case ropeShortFactors
    case attentionNorm, query, key, value, fusedQKV
    case queryBias, keyBias, valueBias, fusedQKVBias
    case queryNorm, keyNorm, attentionOutput, attentionPostNorm
    case feedForwardNorm, gate, up, fusedGateUp, down, feedForwardPostNorm
}

/// One tensor a model holds: its ggml name, its ggml dimensions (columns first, so a
/// rows × columns matrix is [columns, rows]) and whether a model may lack it.
public struct TensorSpec: Sendable, Equatable {
    public var role: TensorRole
    public var name: String
    public var dimensions: [Int]
    public var optional: Bool
}

/// The tensors of a model of some family, by layer range: the one place tensor names are
/// spelled. A stage needs its layers' tensors, the token embedding when it starts at layer 0,
/// the final norm and output projection when it ends at the last layer, and the RoPE
/// frequency factors whenever it has layers.
public struct TensorLayout: Sendable {
    public let architecture: ModelArchitecture

    public init(_ architecture: ModelArchitecture) { self.architecture = architecture }

    /// The tensors of block `layer`. Q/K/V come fused (`attn_qkv`) when the file holds that
    /// tensor, separate otherwise (llama.cpp accepts both for every family); biases are
    /// optional for every family, as in llama.cpp.
    public func layerTensors(_ layer: Int, in file: GGUFFile) -> [TensorSpec] {
        let a = architecture
        let block = a.block
        let prefix = "blk.\(layer)."
        let width = a.embeddingLength
        let ffn = a.feedForwardLength
        func spec(_ role: TensorRole, _ suffix: String, _ dims: [Int], optional: Bool = false)
            -> TensorSpec
        {
            TensorSpec(role: role, name: prefix + suffix, dimensions: dims, optional: optional)
        }
        var specs = [spec(.attentionNorm, "attn_norm.weight", [width])]
        let fusedName = prefix + "attn_qkv.weight"
        if file.tensor(named: fusedName) != nil
            || (block.fusedProjections && !hasSeparateQKV(file, prefix))
        {
            let rows = a.queryWidth + 2 * a.kvWidth
            specs += [
                spec(.fusedQKV, "attn_qkv.weight", [width, rows]),
                spec(.fusedQKVBias, "attn_qkv.bias", [rows], optional: true),
            ]
        } else {
            specs += [
                spec(.query, "attn_q.weight", [width, a.queryWidth]),
                spec(.key, "attn_k.weight", [width, a.kvWidth]),
                spec(.value, "attn_v.weight", [width, a.kvWidth]),
                spec(.queryBias, "attn_q.bias", [a.queryWidth], optional: true),
                spec(.keyBias, "attn_k.bias", [a.kvWidth], optional: true),
                spec(.valueBias, "attn_v.bias", [a.kvWidth], optional: true),
            ]
        }
        if block.queryKeyNorms {
            specs += [
                spec(.queryNorm, "attn_q_norm.weight", [a.headDimension]),
                spec(.keyNorm, "attn_k_norm.weight", [a.headDimension]),
            ]
        }
        specs.append(spec(.attentionOutput, "attn_output.weight", [a.queryWidth, width]))
        if block.postNorms {
            specs.append(spec(.attentionPostNorm, "post_attention_norm.weight", [width]))
        }
        specs.append(spec(.feedForwardNorm, "ffn_norm.weight", [width]))
        if block.fusedProjections {
            specs.append(spec(.fusedGateUp, "ffn_up.weight", [width, 2 * ffn]))
        } else {
            specs += [
                spec(.gate, "ffn_gate.weight", [width, ffn]),
                spec(.up, "ffn_up.weight", [width, ffn]),
            ]
        }
        specs.append(spec(.down, "ffn_down.weight", [ffn, width]))
        if block.postNorms {
            specs.append(spec(.feedForwardPostNorm, "post_ffw_norm.weight", [width]))
        }
        return specs
    }

    private func hasSeparateQKV(_ file: GGUFFile, _ prefix: String) -> Bool {
        file.tensor(named: prefix + "attn_q.weight") != nil
    }

    /// The tensors outside the blocks that a stage over `layers` needs. A tied output (no
    /// `output.weight`) reuses `token_embd.weight`, which the last stage then holds too.
    public func globalTensors(layers: Range<Int>, in file: GGUFFile) -> [TensorSpec] {
        let a = architecture
        var specs: [TensorSpec] = []
        let table = [a.embeddingLength, a.vocabularySize]
        if layers.lowerBound == 0 {
            specs.append(
                TensorSpec(
                    role: .tokenEmbedding, name: "token_embd.weight", dimensions: table,
                    optional: false))
        }
        let factorTensors: [(TensorRole, String?)] = [
            (.ropeFrequencyFactors, a.rope.frequencyFactorsTensor),
            (.ropeLongFactors, a.rope.longFactorsTensor),
            (.ropeShortFactors, a.rope.shortFactorsTensor),
        ]
        for case (let role, let name?) in factorTensors {
            specs.append(
                TensorSpec(
                    role: role, name: name, dimensions: [a.rope.dimensions / 2], optional: false))
        }
        if layers.upperBound == a.layerCount {
            specs.append(
                TensorSpec(
                    role: .outputNorm, name: "output_norm.weight", dimensions: [a.embeddingLength],
                    optional: false))
            let tied = file.tensor(named: "output.weight") == nil
            specs.append(
                TensorSpec(
                    role: .output, name: tied ? "token_embd.weight" : "output.weight",
                    dimensions: table, optional: false))
        }
        return specs
    }

    /// Every tensor a stage over `layers` holds (present ones only for optional tensors), in
    /// the order above, without duplicates.
    public func stageTensors(layers: Range<Int>, in file: GGUFFile) -> [TensorSpec] {
        var specs: [TensorSpec] = []
        for layer in layers { specs += layerTensors(layer, in: file) }
        specs += globalTensors(layers: layers, in: file)
        return specs.filter { !$0.optional || file.tensor(named: $0.name) != nil }
    }

    /// Checks that the file holds every tensor a stage over `layers` needs, each with its
    /// family's shape, and no block tensor the family does not know (which the engine would
    /// silently skip). Names the first tensor at fault.
    public func validate(_ file: GGUFFile, layers: Range<Int>) throws(ArchitectureError) {
        var known: Set<String> = []
        for layer in layers {
            for spec in layerTensors(layer, in: file) {
                known.insert(spec.name)
                try check(spec, in: file)
            }
        }
        for spec in globalTensors(layers: layers, in: file) { try check(spec, in: file) }
        for tensor in file.tensors {
            guard let block = Self.blockIndex(of: tensor.name), layers.contains(block) else {
                continue
            }
            if !known.contains(tensor.name) {
                throw .unexpectedTensor(name: tensor.name, family: architecture.family.rawValue)
            }
        }
    }

    private func check(_ spec: TensorSpec, in file: GGUFFile) throws(ArchitectureError) {
        guard let tensor = file.tensor(named: spec.name) else {
            if spec.optional { return }
            throw .missingTensor(name: spec.name)
        }
        guard tensor.dimensions == spec.dimensions else {
            throw .tensorShapeMismatch(
                tensor: spec.name, expected: spec.dimensions, actual: tensor.dimensions)
        }
    }

    /// `N` for a tensor named `blk.N.<anything>`.
    public static func blockIndex(of name: String) -> Int? {
        guard name.hasPrefix("blk.") else { return nil }
        let rest = name.dropFirst(4)
        guard let dot = rest.firstIndex(of: ".") else { return nil }
        return Int(rest[rest.startIndex..<dot])
    }
}
