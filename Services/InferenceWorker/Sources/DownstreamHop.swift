import GRPCCore
import ServiceKit
import TesseraProto

/// The `Forward` stream this worker opens to the next stage of a session's pipeline.
///
/// grpc-swift runs a bidirectional call inside one scoped function; `call` is that function,
/// run in a child task of the session. Its request producer writes the `open` message and
/// then hands its writer out (`RequestWriterHandoff`), so the session writes each step
/// itself, straight from the task that computed it. Replies come out through a stream the
/// session awaits in turn.
final class DownstreamHop {
    static let failedWorkerKey = MetadataKeys.failedWorker

    let stage: DownstreamStage
    let call: DownstreamCall
    /// The next stage's replies said it (and every stage after it) takes the commitments to
    /// a direct step after the step (`FollowingCommitments`); until one says so, or from a
    /// worker that predates them, they go inline.
    var takesFollowingCommitments = false
    private var replies: AsyncThrowingStream<Tessera_V1_ForwardResponse, any Error>.AsyncIterator

    /// Prepares the call, `request` its first message (nothing is sent until `call.run()`).
    init(stage: DownstreamStage, request: SessionRequest, client: TesseraGRPCClient) {
        self.stage = stage
        let (replyStream, replySink) = AsyncThrowingStream<Tessera_V1_ForwardResponse, any Error>
            .makeStream()
        call = DownstreamCall(
            worker: Tessera_V1_InferenceWorker.Client(wrapping: client),
            open: .with { $0.open = Tessera_V1_SessionOpen(request) },
            replySink: replySink,
            metadata: request.requestID.map { [RequestID.header: .string($0)] } ?? [:])
        replies = replyStream.makeAsyncIterator()
    }

    /// Writes `step` to the next stage; returns the bytes it puts on the wire (the request
    /// message, less gRPC framing).
    func send(_ step: StageStep, width: Int, encoding: ActivationEncoding) async throws -> Int {
        let request = Tessera_V1_ForwardRequest.with {
            $0.step = Tessera_V1_ForwardStep(step, width: width, encoding: encoding)
        }
        try await write(request)
        return request.wireSize
    }

    /// Writes a direct step to the next stage with this stage's `timing` last in its
    /// upstream report, the timing's `bytes_sent` the message's size without it (a few
    /// dozen bytes short, as no message can hold its own size). Returns that size.
    func send(
        _ step: StageStep, adding timing: StageTiming, width: Int, encoding: ActivationEncoding
    ) async throws -> Int {
        var request = Tessera_V1_ForwardRequest.with {
            $0.step = Tessera_V1_ForwardStep(step, width: width, encoding: encoding)
        }
        let bytes = request.wireSize
        var timing = timing
        timing.bytesSent = UInt64(bytes)
        request.step.upstreamTimings.append(Tessera_V1_StageTiming(timing))
        try await write(request)
        return bytes
    }

    /// Writes the commitments to a direct step sent before with `commitmentsFollow`; returns
    /// the message's size.
    func send(_ following: FollowingCommitments) async throws -> Int {
        let request = Tessera_V1_ForwardRequest.with {
            $0.commitments = Tessera_V1_FollowingCommitments(following)
        }
        try await write(request)
        return request.wireSize
    }

    /// A failed write is the call's failure, named as `nextReply` names it (the call's own
    /// error when it has one: the write only learns that the stream is gone).
    private func write(_ request: Tessera_V1_ForwardRequest) async throws {
        do {
            try await call.requests.writer().write(request)
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            let failure = try await call.outcome.value ?? error
            throw Self.upstreamError(for: failure, stage: stage)
        }
    }

    /// The next reply; a failed or ended stream becomes the error the upstream caller sees.
    func nextReply() async throws -> StepResult {
        do {
            if let reply = try await replies.next() {
                let result = StepResult(reply)
                takesFollowingCommitments = result.takesFollowingCommitments
                return result
            }
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
        call.requests.close()
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
    /// The call's first message.
    let open: Tessera_V1_ForwardRequest
    let replySink: AsyncThrowingStream<Tessera_V1_ForwardResponse, any Error>.Continuation
    /// Passed on to the next stage (the request id).
    let metadata: Metadata
    /// The request writer, handed to the session once `open` is written.
    let requests = RequestWriterHandoff<Tessera_V1_ForwardRequest>()
    /// How the call ended: its error, nil when it ended OK or was cancelled.
    let outcome = OneShot<(any Error)?>()

    /// Runs the call until either side ends it; never throws (errors go to the replies, and
    /// are returned: nil when the call ended OK or was cancelled).
    func run() async -> (any Error)? {
        let failure = await call()
        outcome.set(failure)
        requests.callEnded(
            failure ?? RPCError(code: .unavailable, message: "the stream has ended"))
        return failure
    }

    private func call() async -> (any Error)? {
        let (open, handoff) = (self.open, self.requests)
        do {
            try await worker.forward(
                metadata: metadata,
                // The session writes its steps; the producer returns (half-closing the stream,
                // so the next stage ends its session) when the session closes or is cancelled.
                requestProducer: { try await handoff.produce(first: open, into: $0) },
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
