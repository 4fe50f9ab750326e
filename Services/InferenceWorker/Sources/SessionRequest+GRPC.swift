import Inference
import ServiceKit
import TesseraProto

// `SessionOpen` to and from the worker's `SessionRequest`: the only place the worker reads
// or writes its fields.
extension SessionRequest {
    init(_ open: Tessera_V1_SessionOpen) throws {
        guard !open.sessionID.isEmpty else { throw InvalidMessage("open.session_id", "is empty") }
        let sha = open.shardSha256.lowercased()
        guard ShardReference.isValidHash(sha) else {
            throw InvalidMessage(
                "open.shard_sha256", "'\(open.shardSha256)' is not 64 hexadecimal digits")
        }
        let sampling: SamplingParameters
        do {
            // max_tokens is the gateway's business; a stage only samples one token per step.
            sampling = try open.sampling.parameters(defaultMaxTokens: 0)
        } catch {
            throw WorkerError.invalidSampling(error)
        }
        self.init(
            sessionID: open.sessionID, shardSHA256: sha, layers: open.layers.range,
            downstream: try open.downstream.enumerated().map {
                try DownstreamStage($1, field: "open.downstream[\($0)]")
            },
            contextLength: open.contextLength == 0 ? nil : Int(open.contextLength),
            sampling: sampling, outputStart: open.outputStart == 0 ? nil : Int(open.outputStart),
            topLogits: Int(open.topLogits), activation: try ActivationEncoding(open.activationDtype)
        )
    }
}

extension Tessera_V1_SessionOpen {
    init(_ request: SessionRequest) {
        self.init()
        sessionID = request.sessionID
        shardSha256 = request.shardSHA256
        if let layers = request.layers { self.layers = Tessera_V1_LayerRange(layers) }
        downstream = request.downstream.map(Tessera_V1_PipelineHop.init)
        contextLength = UInt32(clamping: request.contextLength ?? 0)
        sampling = Tessera_V1_SamplingParams(request.sampling)
        outputStart = UInt32(clamping: request.outputStart ?? 0)
        topLogits = UInt32(clamping: request.topLogits)
        activationDtype = Tessera_V1_DType(request.activation)
    }
}

extension DownstreamStage {
    init(_ hop: Tessera_V1_PipelineHop, field: String) throws(InvalidMessage) {
        guard let address = ListenAddress(peer: hop.address) else {
            throw InvalidMessage("\(field).address", "'\(hop.address)' is not host:port")
        }
        let sha = hop.shardSha256.lowercased()
        guard ShardReference.isValidHash(sha) else {
            throw InvalidMessage(
                "\(field).shard_sha256", "'\(hop.shardSha256)' is not 64 hexadecimal digits")
        }
        self.init(
            workerID: hop.workerID, address: address, layers: hop.layers.range, shardSHA256: sha)
    }
}

extension Tessera_V1_PipelineHop {
    init(_ stage: DownstreamStage) {
        self.init()
        workerID = stage.workerID
        address = stage.address.description
        if let layers = stage.layers { self.layers = Tessera_V1_LayerRange(layers) }
        shardSha256 = stage.shardSHA256
    }
}

extension ActivationEncoding {
    /// Unspecified means F32.
    init(_ dtype: Tessera_V1_DType) throws(InvalidMessage) {
        switch dtype {
        case .unspecified, .f32: self = .f32
        case .f16: self = .f16
        default: throw InvalidMessage("open.activation_dtype", "\(dtype) is not F32 or F16")
        }
    }
}

extension Tessera_V1_DType {
    init(_ encoding: ActivationEncoding) {
        self = encoding == .f16 ? .f16 : .f32
    }
}
