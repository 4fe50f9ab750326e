import GRPCCore
import ServiceKit
import Synchronization
import TesseraProto

/// One `Forward` session through a pipeline: the gateway talks to stage 0, which opens the
/// hops after it. `step` sends one ForwardStep and waits for its reply (the token the last
/// stage sampled). Owned by one generation task; not shared.
///
/// The gRPC call runs in its own task so the session can interleave sends and receives;
/// cancelling the session's task (client gone) cancels the call, and the workers free the
/// session's KV caches. A step not answered within `stepTimeout` (a hung worker) cancels
/// the call and fails as DEADLINE_EXCEEDED, which the session treats like any stage failure.
final class PipelineStream {
    let stages: [Tessera_V1_PipelineStage]
    let stepTimeout: Duration
    private let timedOut = TimeoutFlag()
    private let requests: AsyncStream<Tessera_V1_ForwardRequest>.Continuation
    private var responses: AsyncThrowingStream<Tessera_V1_ForwardResponse, any Error>.AsyncIterator
    private let call: Task<Void, Never>
    private var nextStep: UInt64 = 0

    init(
        stages: [Tessera_V1_PipelineStage], open: Tessera_V1_SessionOpen,
        client: Tessera_V1_InferenceWorker.Client<TesseraClientTransport>, stepTimeout: Duration = .seconds(60)
    ) {
        self.stages = stages
        self.stepTimeout = stepTimeout
        let (requestStream, requests) = AsyncStream.makeStream(of: Tessera_V1_ForwardRequest.self)
        let (responseStream, responseSink) = AsyncThrowingStream.makeStream(of: Tessera_V1_ForwardResponse.self)
        requests.yield(.with { $0.open = open })
        var options = CallOptions.defaults
        // A dead worker must fail the call at once (and trigger failover), not queue it.
        options.waitForReady = false
        let call = Task {
            do {
                let request = StreamingClientRequest<Tessera_V1_ForwardRequest> { writer in
                    for await message in requestStream { try await writer.write(message) }
                }
                try await client.forward(request: request, options: options) { response in
                    for try await message in response.messages { responseSink.yield(message) }
                }
                responseSink.finish()
            } catch let error as RPCError {
                responseSink.finish(throwing: error)
            } catch {
                // Transport failures (a client stopped mid-call, …) are what failover is for.
                responseSink.finish(throwing: RPCError(code: .unavailable, message: "\(error)", cause: error))
            }
        }
        responseSink.onTermination = { termination in
            if case .cancelled = termination { call.cancel() }
        }
        self.call = call
        self.requests = requests
        responses = responseStream.makeAsyncIterator()
    }

    /// Runs `tokens` starting at `position` through the pipeline; returns the last stage's
    /// reply. Throws the call's `RPCError` when a stage fails, `CancellationError` when the
    /// calling task is cancelled.
    func step(position: Int, tokens: [Int32]) async throws -> Tessera_V1_ForwardResponse {
        try await receive(send(position: position, tokens: tokens))
    }

    /// Queues one step without waiting for its reply (steps are answered in order), so a
    /// replay of many tokens does not pay a round trip per token. Returns its step number.
    @discardableResult
    func send(position: Int, tokens: [Int32]) -> UInt64 {
        let step = nextStep
        nextStep += 1
        requests.yield(
            .with {
                $0.step = .with {
                    $0.step = step
                    $0.position = UInt32(position)
                    $0.tokenIds = tokens.map { UInt32(bitPattern: $0) }
                }
            })
        return step
    }

    /// The reply to `step`, which must be the next one unanswered.
    func receive(_ step: UInt64) async throws -> Tessera_V1_ForwardResponse {
        let call = self.call
        let timeout = stepTimeout
        let timedOut = self.timedOut
        let watchdog = Task {
            try await Task.sleep(for: timeout)
            timedOut.set()
            call.cancel()
        }
        defer { watchdog.cancel() }
        let response: Tessera_V1_ForwardResponse?
        do {
            response = try await responses.next()
        } catch {
            try Task.checkCancellation()
            if timedOut.isSet {
                throw RPCError(code: .deadlineExceeded, message: "the pipeline did not answer step \(step) within \(timeout)")
            }
            throw error
        }
        try Task.checkCancellation()
        guard let response else {
            throw RPCError(code: .unavailable, message: "the pipeline closed the stream before answering step \(step)")
        }
        guard response.step == step else {
            throw RPCError(code: .internalError, message: "the pipeline answered step \(response.step), expected \(step)")
        }
        return response
    }

    /// Ends the session normally (half-close): the workers free its KV caches.
    func close() {
        requests.finish()
    }

    /// Abandons the session (after a failure or cancellation).
    func cancel() {
        requests.finish()
        call.cancel()
    }
}

/// Set once by a step's watchdog, so the failure reads as a timeout rather than a cancel.
final class TimeoutFlag: Sendable {
    private let flag = Mutex(false)

    func set() { flag.withLock { $0 = true } }
    var isSet: Bool { flag.withLock { $0 } }
}
