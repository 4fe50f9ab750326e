import GRPCCore
import ServiceKit
import TesseraProto

/// The `Forward` call itself, run by the gateway's call runner: it writes `open` and hands
/// its request writer to the generation (which writes the steps), streams the replies in,
/// and races a watchdog for hung stages and the generation's word that it gave the session up.
struct ForwardCall: Sendable {
    let client: Tessera_V1_InferenceWorker.Client<TesseraClientTransport>
    /// The call's first message.
    let open: Tessera_V1_ForwardRequest
    let events: AsyncThrowingStream<PipelineEvent, any Error>.Continuation
    let watch: StepWatch
    let liveness: StageLiveness
    let requestID: String
    let abandoned = OneShot<Void>()
    /// The request writer, handed to the generation once `open` is written.
    let requests = RequestWriterHandoff<Tessera_V1_ForwardRequest>()

    /// The generation no longer wants the call (it failed over, or its client left).
    func abandon() { abandoned.set(()) }

    /// Never throws: how the call ended goes to the events.
    func run() async {
        let (open, handoff) = (self.open, self.requests)
        defer { handoff.callEnded(CancellationError()) }  // (no effect once handed out)
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    var options = CallOptions.defaults
                    // A dead worker must fail the call at once (and trigger failover), not queue it.
                    options.waitForReady = false
                    let request = StreamingClientRequest<Tessera_V1_ForwardRequest>(
                        metadata: [RequestID.header: .string(requestID)]
                    ) {
                        // The generation writes its steps; the producer returns (half-closing
                        // the stream) when the session closes or the call is cancelled.
                        try await handoff.produce(first: open, into: $0)
                    }
                    try await client.forward(request: request, options: options) { response in
                        for try await message in response.messages {
                            events.yield(.reply(message))
                        }
                    }
                }
                group.addTask {
                    do {
                        try await watch.expire { await liveness.silentStage()?.workerID }
                    } catch let timeout as StepWatch.Timeout {
                        // Tell the generation now: ending the call may have to wait for the
                        // stopped worker.
                        events.finish(throwing: timeout.rpcError)
                        throw timeout
                    }
                }
                group.addTask {
                    try await abandoned.value
                    throw CancellationError()
                }
                try await group.next()  // the call ended (the others only end by throwing)
                group.cancelAll()
            }
            events.finish()
        } catch let timeout as StepWatch.Timeout {
            events.finish(throwing: timeout.rpcError)
        } catch let error as RPCError {
            events.finish(throwing: error)
        } catch {
            // Transport failures (a client stopped mid-call, …) are what failover is for.
            events.finish(
                throwing: RPCError(code: .unavailable, message: "\(error)", cause: error))
        }
    }
}
