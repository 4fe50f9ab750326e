import Inference
import ServiceKit

/// What a `Forward` stream's `open` asks of this worker, read from the wire once
/// (`SessionRequest+GRPC.swift`): ids and hashes checked, addresses parsed, defaults filled.
struct SessionRequest: Sendable {
    var sessionID: String
    /// The hosted shard that runs this stage (lowercase hex).
    var shardSHA256: String
    /// The layers the caller expects this stage to run; nil when it did not say.
    var layers: Range<Int>?
    /// The stages after this one, in order.
    var downstream: [DownstreamStage]
    /// Tokens of KV cache to reserve; nil for the model's whole context.
    var contextLength: Int?
    /// Applied by the last stage.
    var sampling: SamplingParameters
    /// Position of the first generated token, where the response format starts; nil when the
    /// caller did not say (then it is wherever the first token is sampled).
    var outputStart: Int? = nil
    /// Top logits the last stage returns per sampled token.
    var topLogits: Int
    var activation: ActivationEncoding
    /// The request this session serves (`x-request-id` on the call), for the log lines.
    var requestID: String?

    /// The request the next stage gets: the same session over the next shard, with the
    /// context this stage settled on and the rest of the pipeline.
    func forNextStage(contextLength: Int) -> SessionRequest? {
        guard let next = downstream.first else { return nil }
        var request = self
        request.shardSHA256 = next.shardSHA256
        request.layers = next.layers
        request.downstream = Array(downstream.dropFirst())
        request.contextLength = contextLength
        return request
    }
}

/// One stage after this one in a session's pipeline.
struct DownstreamStage: Sendable {
    var workerID: String
    var address: ListenAddress
    /// nil when the caller did not say.
    var layers: Range<Int>?
    var shardSHA256: String

    /// How errors name the stage: its worker id, or its address when that is unknown.
    var name: String { workerID.isEmpty ? address.description : workerID }
}

/// How hidden states travel to the next stage: F32 (exact) or F16 (half the bytes, rounded).
enum ActivationEncoding: Sendable {
    case f32, f16

    var bytesPerValue: Int { self == .f16 ? 2 : 4 }
}
