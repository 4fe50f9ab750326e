import Inference
import TesseraProto

/// A request's sampling settings, resolved once at the gateway: wire defaults filled in and
/// a seed fixed (so a failover replay samples exactly as the first pipeline would have).
/// The pipeline's last stage receives exactly these; the gateway's stop logic uses them too.
struct GenerationOptions: Sendable {
    static let defaultMaxTokens = 256
    static let maxTopLogits = 100

    let parameters: SamplingParameters
    let topLogits: Int

    /// Validates and resolves; throws `GatewayError.invalidArgument` naming the field.
    init(
        _ sampling: Tessera_V1_SamplingParams, topLogits: UInt32 = 0,
        defaultMaxTokens: Int = Self.defaultMaxTokens
    ) throws(GatewayError) {
        do {
            parameters = try sampling.parameters(defaultMaxTokens: defaultMaxTokens)
        } catch {
            throw GatewayError(error)
        }
        guard topLogits <= Self.maxTopLogits else {
            throw GatewayError.invalid(
                "top_logits must be at most \(Self.maxTopLogits) (got \(topLogits))",
                parameter: "top_logits")
        }
        self.topLogits = Int(topLogits)
    }
}
