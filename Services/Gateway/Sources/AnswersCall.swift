import GRPCCore
import ServiceKit
import Synchronization
import TesseraProto

/// The `Answers` call to a pipeline's last stage, run by the gateway's call runner beside the
/// `Forward` call to its first (see PipelineStream): the last stage's direct answers go into
/// the session's events, and so does the call's end.
final class AnswersCall: Sendable {
    let client: Tessera_V1_InferenceWorker.Client<TesseraClientTransport>
    let sessionID: String
    let events: AsyncThrowingStream<PipelineEvent, any Error>.Continuation
    let requestID: String
    private let ended = Atomic(false)
    private let abandoned = OneShot<Void>()

    init(
        client: Tessera_V1_InferenceWorker.Client<TesseraClientTransport>, sessionID: String,
        events: AsyncThrowingStream<PipelineEvent, any Error>.Continuation, requestID: String
    ) {
        self.client = client
        self.sessionID = sessionID
        self.events = events
        self.requestID = requestID
    }

    /// Whether the call has ended: later steps go relayed.
    var hasEnded: Bool { ended.load(ordering: .acquiring) }

    /// The session no longer needs the call.
    func abandon() { abandoned.set(()) }

    /// Never throws: how the call ended goes to the events (not when it was abandoned).
    func run() async {
        let (client, sessionID, requestID, events, abandoned) = (
            self.client, self.sessionID, self.requestID, self.events, self.abandoned
        )
        let outcome: RPCError?
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    var options = CallOptions.defaults
                    options.waitForReady = false  // a dead worker fails the call at once
                    let request = ClientRequest(
                        message: Tessera_V1_AnswersRequest.with { $0.sessionID = sessionID },
                        metadata: [RequestID.header: .string(requestID)])
                    try await client.answers(request: request, options: options) { response in
                        for try await answer in response.messages { events.yield(.reply(answer)) }
                    }
                }
                group.addTask {
                    try await abandoned.value
                    throw CancellationError()
                }
                try await group.next()  // the call ended (the other only ends by throwing)
                group.cancelAll()
            }
            outcome = nil
        } catch is CancellationError {
            ended.store(true, ordering: .releasing)
            return
        } catch let error as RPCError {
            outcome = error
        } catch {
            outcome = RPCError(code: .unavailable, message: "\(error)", cause: error)
        }
        ended.store(true, ordering: .releasing)
        events.yield(.answersEnded(outcome))
    }
}
