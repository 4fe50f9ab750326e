import Inference

/// Which block input a layer weight multiplies, from its GGUF name (`blk.3.ffn_down.weight`).
/// Nil for tensors Wanda leaves alone (embeddings, the output projection, norms).
public enum WandaTensorSite {
    public static func site(of name: String) -> (layer: Int, site: MatmulInputSite)? {
        let parts = name.split(separator: ".")
        guard parts.count == 4, parts[0] == "blk", parts[3] == "weight", let layer = Int(parts[1])
        else { return nil }
        switch parts[2] {
        case "attn_q", "attn_k", "attn_v", "attn_qkv": return (layer, .attentionInput)
        case "attn_output": return (layer, .attentionOutput)
        case "ffn_gate", "ffn_up": return (layer, .feedForwardInput)
        case "ffn_down": return (layer, .feedForwardDown)
        default: return nil
        }
    }
}
