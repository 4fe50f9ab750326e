import Inference
import TesseraProto

/// A request's sampling settings in two forms: the proto sent to the pipeline's last stage
/// (with every "service default" filled in, including a seed, so a failover replay samples
/// exactly as the first pipeline would have), and the engine's `SamplingParameters` the
/// gateway's own stop logic uses.
struct GenerationOptions: Sendable {
    static let defaultMaxTokens = 256
    static let maxStopStrings = 16

    let wire: Tessera_V1_SamplingParams
    let parameters: SamplingParameters
    let topLogits: Int

    /// Validates and normalises; throws `GatewayError.invalidArgument` naming the field.
    init(_ sampling: Tessera_V1_SamplingParams, topLogits: UInt32 = 0, defaultMaxTokens: Int = Self.defaultMaxTokens) throws {
        var wire = sampling
        guard wire.temperature.isFinite, wire.temperature >= 0 else {
            throw GatewayError.invalid("temperature must be a finite number >= 0 (got \(wire.temperature))", parameter: "temperature")
        }
        if wire.topP == 0 { wire.topP = 1 }
        guard wire.topP.isFinite, wire.topP > 0, wire.topP <= 1 else {
            throw GatewayError.invalid("top_p must be in (0, 1] (got \(sampling.topP))", parameter: "top_p")
        }
        guard wire.minP.isFinite, wire.minP >= 0, wire.minP <= 1 else {
            throw GatewayError.invalid("min_p must be in [0, 1] (got \(wire.minP))", parameter: "min_p")
        }
        if wire.repeatPenalty == 0 { wire.repeatPenalty = 1 }
        guard wire.repeatPenalty.isFinite, wire.repeatPenalty > 0 else {
            throw GatewayError.invalid(
                "repeat_penalty must be a finite number > 0 (got \(sampling.repeatPenalty))", parameter: "repeat_penalty")
        }
        if wire.repeatLastN == 0 { wire.repeatLastN = 64 }
        guard wire.stop.count <= Self.maxStopStrings else {
            throw GatewayError.invalid("at most \(Self.maxStopStrings) stop strings are allowed", parameter: "stop")
        }
        guard !wire.stop.contains("") else {
            throw GatewayError.invalid("stop strings must not be empty", parameter: "stop")
        }
        if wire.maxTokens == 0 { wire.maxTokens = UInt32(defaultMaxTokens) }
        // Without a seed the request still needs a fixed one: a replay after a failover must
        // draw the same tokens the lost pipeline would have.
        if !wire.hasSeed { wire.seed = UInt64.random(in: 0...UInt64.max) }
        guard topLogits <= 100 else {
            throw GatewayError.invalid("top_logits must be at most 100 (got \(topLogits))", parameter: "top_logits")
        }

        self.wire = wire
        self.topLogits = Int(topLogits)
        parameters = SamplingParameters(
            temperature: wire.temperature, topK: Int(wire.topK), topP: wire.topP, minP: wire.minP,
            repeatPenalty: wire.repeatPenalty, repeatLastN: Int(wire.repeatLastN), seed: wire.seed,
            stopStrings: wire.stop, ignoreEOS: wire.ignoreEos, maxTokens: Int(wire.maxTokens))
        do {
            try parameters.validate()
        } catch {
            throw GatewayError.invalid("\(error)")
        }
    }
}
