import Hummingbird
import HummingbirdCore
import Logging
import Metrics
import NIOCore
import Synchronization

/// The HTTP listener's connections: at most `limit.maximum` open at once, and each one
/// watched for its client going away (`HTTPEndpoint.cancellingWhenClientLeaves`).
///
/// A connection beyond the limit is answered at once with a 503 (`Retry-After: 1`,
/// `Connection: close`) and closed, before any HTTP handling is set up for it, so a flood of
/// connections costs the open ones nothing. Hummingbird's own limit
/// (`ServerConfiguration.availableConnectionsDelegate`) stops accepting instead: the excess
/// then waits unanswered in the kernel's backlog, with no error, no idle timeout and no count,
/// and `/metrics` and `/readyz` hang with it.
struct LimitedHTTP1Channel: ServerChildChannel {
    enum Value: ServerChildChannelValue {
        case accepted(HTTP1Channel.Value)
        case refused(any Channel)

        var channel: any Channel {
            switch self {
            case .accepted(let value): value.channel
            case .refused(let channel): channel
            }
        }
    }

    let http: HTTP1Channel
    let limit: HTTPConnectionLimit

    /// Runs on the new connection's event loop, before it is registered.
    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        let limit = self.limit
        guard limit.open() else {
            logger.debug("http connection refused", metadata: ["limit": "\(limit.maximum)"])
            return channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandler(
                    RefuseConnection(limit: limit.maximum))
                return .refused(channel)
            }
        }
        channel.closeFuture.whenComplete { _ in limit.close() }
        do {
            // First in the pipeline, so it sees the end of input before any HTTP handler.
            try channel.pipeline.syncOperations.addHandler(ClientDisconnectWatch())
        } catch {
            return channel.eventLoop.makeFailedFuture(error)
        }
        return http.setup(channel: channel, logger: logger).map { .accepted($0) }
    }

    func handle(value: Value, logger: Logger) async {
        if case .accepted(let channel) = value {
            await http.handle(value: channel, logger: logger)
        }
    }
}

/// The count of open HTTP connections against a maximum, exported as the gauge
/// `tessera_http_connections` (all listeners of the process), with refusals counted in
/// `tessera_http_connections_refused_total`.
final class HTTPConnectionLimit: Sendable {
    let maximum: Int
    private let count = Mutex(0)
    static let openConnections = LiveCount("tessera_http_connections")
    /// Made with the limit (after `ServiceMetrics.bootstrap`), so /metrics shows it from 0.
    private let refusals = Counter(label: "tessera_http_connections_refused_total")

    init(maximum: Int) {
        self.maximum = max(1, maximum)
    }

    /// Counts a new connection, or returns false (and counts a refusal) at the maximum.
    func open() -> Bool {
        let admitted = count.withLock { count in
            guard count < maximum else { return false }
            count += 1
            return true
        }
        if admitted {
            Self.openConnections.increment()
        } else {
            refusals.increment()
        }
        return admitted
    }

    func close() {
        count.withLock { $0 -= 1 }
        Self.openConnections.decrement()
    }
}

/// Answers a connection over the limit with a 503 in OpenAI's error shape and closes it,
/// without reading its request.
private final class RefuseConnection: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let response: String
    private var answered = false

    init(limit: Int) {
        let body =
            #"{"error":{"message":"too many open connections (the limit is \#(limit)); try again shortly","#
            + #""type":"server_error","param":null,"code":"too_many_connections"}}"#
        response =
            "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n"
            + "retry-after: 1\r\nconnection: close\r\ncontent-length: \(body.utf8.count)\r\n\r\n"
            + body
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { answer(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        answer(context)
        context.fireChannelActive()
    }

    /// The request, if any arrived, is dropped.
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {}

    private func answer(_ context: ChannelHandlerContext) {
        guard !answered else { return }
        answered = true
        let written = context.eventLoop.makePromise(of: Void.self)
        context.writeAndFlush(
            wrapOutboundOut(context.channel.allocator.buffer(string: response)), promise: written)
        let channel = context.channel
        written.futureResult.whenComplete { _ in channel.close(promise: nil) }
    }
}

/// Notices the client of one HTTP connection going away: the end of its input (it closed
/// its socket; Hummingbird allows half-closure, so that arrives as `inputClosed`, not as the
/// connection closing) or the connection closing (a reset). A client that only half-closes
/// after sending its request counts as gone too, as in Hummingbird's own
/// `consumeWithCancellationOnInboundClose`.
final class ClientDisconnectWatch: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer

    /// Set once the client is gone.
    let gone = OneShot<Void>()

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .inputClosed = event as? ChannelEvent { gone.set(()) }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        gone.set(())
        context.fireChannelInactive()
    }
}

private enum Outcome<Value: Sendable>: Sendable {
    case done(Value)
    case clientLeft
}

extension HTTPEndpoint {
    /// Thrown by `cancellingWhenClientLeaves` when the client went away first.
    public struct ClientDisconnected: Error {}

    /// Runs `operation`, cancelling it as soon as the client of the request's connection goes
    /// away, and then throws `ClientDisconnected` (once `operation` has ended).
    ///
    /// Hummingbird cancels nothing when a client leaves: a handler runs to the end, and only
    /// a response body that is being written fails. So a handler whose response starts only
    /// when the work is done (a non-streamed completion, or a stream still waiting for its
    /// first token) watches the connection itself. (Hummingbird's
    /// `RequestBody.consumeWithCancellationOnInboundClose` does the same by reading the
    /// request stream in a second task, but that task's cancellation ends the connection
    /// after the response: no keep-alive. The watch is a handler instead, see
    /// `ClientDisconnectWatch`; a connection that answered its request stays open.)
    public static func cancellingWhenClientLeaves<Value: Sendable>(
        _ context: Context, _ operation: @escaping @Sendable () async throws -> Value
    ) async throws -> Value {
        let channel = context.channel
        let gone = try? await channel.eventLoop.submit {
            try channel.pipeline.syncOperations.handler(type: ClientDisconnectWatch.self).gone
        }.get()
        guard let gone else { return try await operation() }
        return try await withThrowingTaskGroup(of: Outcome<Value>.self) { group in
            group.addTask { .done(try await operation()) }
            group.addTask {
                try await gone.value
                return .clientLeft
            }
            defer { group.cancelAll() }
            switch try await group.next() {
            case .done(let value): return value
            case .clientLeft, nil: throw ClientDisconnected()
            }
        }
    }
}
