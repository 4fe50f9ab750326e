import GRPCCore
import Inference
import TesseraProto

/// Turns the wire's `SamplingParams` (proto3 zero defaults) into the engine's parameters.
enum SamplingMapping {
    /// Zero means "off" or "default" for the fields where the engine's neutral value is not
    /// zero (top_p and repeat_penalty 1, repeat_last_n 64). Without a seed the session draws
    /// one, so its tokens are random but a replay within the session still repeats them.
    static func parameters(_ params: Tessera_V1_SamplingParams) throws -> SamplingParameters {
        let parameters = SamplingParameters(
            temperature: params.temperature,
            topK: Int(params.topK),
            topP: params.topP == 0 ? 1 : params.topP,
            minP: params.minP,
            repeatPenalty: params.repeatPenalty == 0 ? 1 : params.repeatPenalty,
            repeatLastN: params.repeatLastN == 0 ? 64 : Int(params.repeatLastN),
            seed: params.hasSeed ? params.seed : UInt64.random(in: .min ... .max),
            stopStrings: params.stop,
            ignoreEOS: params.ignoreEos,
            maxTokens: Int(params.maxTokens))
        do {
            try parameters.validate()
        } catch {
            throw RPCError.invalidArgument("open.sampling: \(error)")
        }
        return parameters
    }
}
