import GRPCCore

/// A server transport that refuses, with RESOURCE_EXHAUSTED and a message naming the cap,
/// each request message larger than `maxMessageBytes`, before it is deserialized.
///
/// The HTTP/2 transport has a limit of its own, but past it it resets the stream (the client
/// sees CANCELLED, with no reason); so its limit is set above this cap
/// (`MessageLimits.transportLimitBytes`) as the hard bound on what is buffered, and the refusal
/// a client can read comes from here.
struct MessageCapTransport<Base: ServerTransport>: ServerTransport {
    typealias Bytes = Base.Bytes

    let base: Base
    let maxMessageBytes: Int

    func configure(context: GRPCServerContext) {
        base.configure(context: context)
    }

    func listen(
        streamHandler:
            @escaping @Sendable (
                _ stream: RPCStream<Inbound, Outbound>, _ context: ServerContext
            ) async -> Void
    ) async throws {
        let limit = maxMessageBytes
        try await base.listen { stream, context in
            let method = stream.descriptor.fullyQualifiedMethod
            let checked = stream.inbound.map { part throws -> RPCRequestPart<Bytes> in
                if case .message(let bytes) = part, bytes.count > limit {
                    throw RPCError(
                        code: .resourceExhausted,
                        message:
                            "a \(method) request message of \(bytes.count) bytes exceeds this server's limit of \(limit) bytes"
                    )
                }
                return part
            }
            await streamHandler(
                RPCStream(
                    descriptor: stream.descriptor, inbound: RPCAsyncSequence(wrapping: checked),
                    outbound: stream.outbound),
                context)
        }
    }

    func beginGracefulShutdown() {
        base.beginGracefulShutdown()
    }
}
