import GRPCCore
import ServiceKit
import Synchronization

/// The floor `tessera bench hop` compares a hop with: a bidirectional call written and read
/// from the caller's own task, no message changing task at the caller.
///
/// grpc-swift runs a call inside a scoped function whose `requestProducer` and `onResponse`
/// closures run in tasks of their own; here they only hand their writer and an iterator of
/// the responses out, then wait until the caller is done. Workers do not use this shape: a
/// hop's replies must be read while its session is idle, so that a next stage ending the
/// call (shutting down, failing) ends it at once on this side too (the next stage's graceful
/// shutdown waits for that), which takes a task reading them: the async streams the bench
/// calls "async streams". The difference between the two rows is what that task costs.
final class DirectStreamingCall<Request: Sendable, Response: Sendable>: Sendable {
    typealias Start =
        @Sendable (
            _ requestProducer: @escaping @Sendable (RPCWriter<Request>) async throws -> Void,
            _ onResponse:
                @escaping @Sendable (StreamingClientResponse<Response>) async throws -> Void
        ) async throws -> Void

    private let writer = OneShot<Result<RPCWriter<Request>, any Error>>()
    private let responses = OneShot<Result<ResponseReader<Response>, any Error>>()
    /// Set when the caller is done: the request producer returns (half-close) and
    /// `onResponse` reads what is left, so the call ends normally instead of being cancelled.
    private let done = OneShot<Void>()

    /// Runs the call until it ends; never throws (a failure reaches `send` and `receive`).
    func run(_ start: Start) async {
        let failure: any Error
        do {
            try await start(
                { writer in
                    self.writer.set(.success(writer))
                    try await self.done.value
                },
                { response in
                    let reader = ResponseReader(response.messages)
                    self.responses.set(.success(reader))
                    try await self.done.value
                    try await reader.drain()
                })
            failure = RPCError(code: .unavailable, message: "the call ended")
        } catch {
            failure = error
        }
        writer.set(.failure(failure))
        responses.set(.failure(failure))
    }

    func send(_ request: Request) async throws {
        try await writer.value.get().write(request)
    }

    /// The next response, nil once the server ended the stream normally.
    func receive() async throws -> Response? {
        try await responses.value.get().next()
    }

    /// No more requests, no more reading: the call ends when the server ends the stream.
    func close() {
        done.set(())
    }
}

/// The response messages' iterator, used by one task at a time: the caller while it reads,
/// then `onResponse` to drain what is left (`done` orders the two).
// @unchecked: the iterator is not Sendable; it is handed from one task to the next, never shared.
private final class ResponseReader<Response: Sendable>: @unchecked Sendable {
    private var iterator: RPCAsyncSequence<Response, any Error>.AsyncIterator

    init(_ messages: RPCAsyncSequence<Response, any Error>) {
        iterator = messages.makeAsyncIterator()
    }

    func next() async throws -> Response? {
        try await iterator.next()
    }

    func drain() async throws {
        while try await iterator.next() != nil {}
    }
}
