import GRPCCore
import ServiceKit
import TesseraProto

/// The `Forward` stream this worker opens to the next stage of a session's pipeline.
///
/// grpc-swift runs a bidirectional call inside one scoped function; `call` is that function,
/// run in a child task of the session, with requests fed in through a stream and replies
/// handed out through another, so the session can send a step and await its reply in turn.
final class DownstreamHop {
    static let failedWorkerKey = MetadataKeys.failedWorker

    let stage: DownstreamStage
    let call: DownstreamCall
    private var replies: AsyncThrowingStream<Tessera_V1_ForwardResponse, any Error>.AsyncIterator

    /// Prepares the call and queues `request` as its first message (nothing is sent until
    /// `call.run()`).
    init(stage: DownstreamStage, request: SessionRequest, client: TesseraGRPCClient) {
        self.stage = stage
        let (requests, requestSink) = AsyncStream<Tessera_V1_ForwardRequest>.makeStream()
        let (replyStream, replySink) = AsyncThrowingStream<Tessera_V1_ForwardResponse, any Error>
            .makeStream()
        requestSink.yield(.with { $0.open = Tessera_V1_SessionOpen(request) })
        call = DownstreamCall(
            worker: Tessera_V1_InferenceWorker.Client(wrapping: client), requests: requests,
            requestSink: requestSink,
            replySink: replySink,
            metadata: request.requestID.map { [RequestID.header: .string($0)] } ?? [:])
        replies = replyStream.makeAsyncIterator()
    }

    /// Queues `step` for the next stage; returns the bytes it puts on the wire (the request
    /// message, less gRPC framing).
    func send(_ step: StageStep, width: Int, encoding: ActivationEncoding) -> Int {
        let request = Tessera_V1_ForwardRequest.with {
            $0.step = Tessera_V1_ForwardStep(step, width: width, encoding: encoding)
        }
        call.requestSink.yield(request)
        return request.wireSize
    }

    /// Queues a direct step for the next stage with this stage's `timing` last in its
    /// upstream report, the timing's `bytes_sent` the message's size without it (a few
    /// dozen bytes short, as no message can hold its own size). Returns that size.
    func send(
        _ step: StageStep, adding timing: StageTiming, width: Int, encoding: ActivationEncoding
    ) -> Int {
        var request = Tessera_V1_ForwardRequest.with {
            $0.step = Tessera_V1_ForwardStep(step, width: width, encoding: encoding)
        }
        let bytes = request.wireSize
        var timing = timing
        timing.bytesSent = UInt64(bytes)
        request.step.upstreamTimings.append(Tessera_V1_StageTiming(timing))
        call.requestSink.yield(request)
        return bytes
    }

    /// The next reply; a failed or ended stream becomes the error the upstream caller sees.
    func nextReply() async throws -> StepResult {
        do {
            if let reply = try await replies.next() { return StepResult(reply) }
            try Task.checkCancellation()
            throw RPCError(code: .unavailable, message: "the stream ended without a reply")
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            throw Self.upstreamError(for: error, stage: stage)
        }
    }

    /// Half-closes the stream: the next stage ends its session and the call returns.
    func close() {
        call.requestSink.finish()
    }

    /// What the caller sees when this hop fails. A failure further down already names its
    /// worker and passes through unchanged; the next stage refusing the request keeps its
    /// code; anything else (connection lost, process gone) is UNAVAILABLE naming this hop.
    static func upstreamError(for error: any Error, stage: DownstreamStage) -> RPCError {
        let name = stage.name
        let metadata: Metadata = [failedWorkerKey: .string(name)]
        guard let rpc = error as? RPCError else {
            return RPCError(
                code: .unavailable, message: "stage \(name) at \(stage.address) failed: \(error)",
                metadata: metadata)
        }
        if rpc.metadata[failedWorkerKey].contains(where: { _ in true }) { return rpc }
        switch rpc.code {
        case .invalidArgument, .outOfRange:
            return RPCError(code: rpc.code, message: "stage \(name): \(rpc.message)")
        case .failedPrecondition, .resourceExhausted, .dataLoss, .notFound, .unimplemented:
            return RPCError(
                code: rpc.code, message: "stage \(name): \(rpc.message)", metadata: metadata)
        default:
            return RPCError(
                code: .unavailable,
                message: "stage \(name) at \(stage.address) failed: \(rpc.code): \(rpc.message)",
                metadata: metadata)
        }
    }
}

/// The Sendable half of a hop: what the child task running the call needs.
struct DownstreamCall: Sendable {
    let worker: Tessera_V1_InferenceWorker.Client<TesseraClientTransport>
    let requests: AsyncStream<Tessera_V1_ForwardRequest>
    let requestSink: AsyncStream<Tessera_V1_ForwardRequest>.Continuation
    let replySink: AsyncThrowingStream<Tessera_V1_ForwardResponse, any Error>.Continuation
    /// Passed on to the next stage (the request id).
    let metadata: Metadata

    /// Runs the call until either side ends it; never throws (errors go to the replies, and
    /// are returned: nil when the call ended OK or was cancelled).
    func run() async -> (any Error)? {
        defer { requestSink.finish() }
        do {
            try await worker.forward(
                metadata: metadata,
                requestProducer: { writer in
                    for await request in requests { try await writer.write(request) }
                },
                onResponse: { response in
                    for try await reply in response.messages { replySink.yield(reply) }
                })
            replySink.finish()
            return nil
        } catch {
            replySink.finish(throwing: error)
            if error is CancellationError || Task.isCancelled { return nil }
            return error
        }
    }
}
