import GRPCNIOTransportHTTP2
import NIOCore
import NIOTLS

/// Closes an accepted connection whose TLS handshake has not completed within `timeout`.
///
/// Neither swift-nio-ssl nor the gRPC transport bounds the handshake, and the transport's
/// idle timer only closes connections politely (a GOAWAY, which cannot be sent before TLS
/// is up): a peer that connects and sends nothing, or half a ClientHello, held its socket and
/// buffers until it chose to leave. This handler sits at the end of the connection's pipeline,
/// where the TLS handler's `handshakeCompleted` event arrives once the handshake is done.
final class HandshakeDeadlineHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny

    let timeout: TimeAmount
    private var deadline: Scheduled<Void>?
    private var completed = false

    init(timeout: TimeAmount) {
        self.timeout = timeout
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { arm(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        arm(context)
        context.fireChannelActive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case TLSUserEvent.handshakeCompleted = event {
            completed = true
            deadline?.cancel()
            deadline = nil
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        deadline?.cancel()
        deadline = nil
        context.fireChannelInactive()
    }

    private func arm(_ context: ChannelHandlerContext) {
        guard deadline == nil, !completed else { return }
        let channel = context.channel
        deadline = context.eventLoop.scheduleTask(in: timeout) {
            channel.close(promise: nil)
        }
    }
}

extension ClusterSecurity {
    /// The server transport configuration for `limits` under this security: with TLS, every
    /// accepted connection must finish its handshake within the material's
    /// `handshakeTimeout` or is closed. Plaintext has no handshake to wait for.
    func serverConfig(_ limits: MessageLimits) -> HTTP2ServerTransport.Posix.Config {
        var config = limits.serverConfig
        guard case .mutualTLS(let material) = self else { return config }
        let timeout = TimeAmount.nanoseconds(
            Int64(material.handshakeTimeout.components.seconds) * 1_000_000_000
                + material.handshakeTimeout.components.attoseconds / 1_000_000_000)
        config.channelDebuggingCallbacks.onAcceptTCPConnection = { channel in
            channel.eventLoop.submit {
                try channel.pipeline.syncOperations.addHandler(
                    HandshakeDeadlineHandler(timeout: timeout))
            }
        }
        return config
    }
}
