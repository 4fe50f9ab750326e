import GRPCCore
import GRPCNIOTransportHTTP2
import NIOCore
import NIOSSL
import NIOTLS
import Synchronization
import X509

/// The client side of role checks: a server must present a certificate of the role that
/// serves the called service (`ServerRoles`): a client calling `tessera.v1.Scheduler` gets
/// the scheduler, not a worker whose certificate happens to name the same address.
///
/// The TLS handshake already checked the CA and (unless turned off) the name; the role is
/// checked per RPC because one connection's client does not know which service it dials
/// (client pools reach workers and the cache-manager alike). The handshake records what each
/// connection's server presented (`ServerCertificateRecorder`), and before a call sends
/// anything `ServerRoleCheckInterceptor` compares it with what the method needs; a mismatch
/// is UNAVAILABLE naming both roles.
final class ServerIdentityLedger: Sendable {
    /// What a server showed in its handshake.
    enum Presented: Sendable, Equatable {
        case identity(PeerIdentity)
        /// A certificate of this CA whose subject names no role.
        case noRole(subject: String)
    }

    private let connections = Mutex<[String: Presented]>([:])

    func record(_ presented: Presented, connection: String) {
        connections.withLock { $0[connection] = presented }
    }

    func forget(connection: String) {
        _ = connections.withLock { $0.removeValue(forKey: connection) }
    }

    func presented(connection: String) -> Presented? {
        connections.withLock { $0[connection] }
    }

    /// A connection as the transport describes its two ends to a call (`ClientContext`'s
    /// `localPeer` and `remotePeer`).
    static func connection(local: String, remote: String) -> String { "\(local) -> \(remote)" }

    /// Nil when the server of this call's connection may serve its method, else why not.
    func refusal(for context: ClientContext) -> String? {
        let method = context.descriptor.fullyQualifiedMethod
        let expected: ServiceRole
        switch ServerRoles.expectation(for: context.descriptor.service.fullyQualifiedService) {
        case .anyRole: return nil
        case .unknownService:
            return "no role is known to serve \(method), so no server is trusted with it"
        case .role(let role): expected = role
        }
        let key = Self.connection(local: context.localPeer, remote: context.remotePeer)
        switch presented(connection: key) {
        case .identity(let identity) where identity.role == expected: return nil
        case .identity(let identity):
            return "\(method) needs a \(expected) server, but \(context.remotePeer) presented "
                + "the certificate '\(identity.name)' of role \(identity.role)"
        case .noRole(let subject):
            return "\(method) needs a \(expected) server, but \(context.remotePeer) presented "
                + "a certificate naming no role (\(subject))"
        case nil:
            return "\(method) needs a \(expected) server, but no server certificate was seen "
                + "on the connection to \(context.remotePeer)"
        }
    }
}

/// Refuses a call, before any of it is sent, when the server's certificate is not of the
/// role that serves the method (`ServerIdentityLedger.refusal`).
struct ServerRoleCheckInterceptor: ClientInterceptor {
    let ledger: ServerIdentityLedger

    func intercept<Input: Sendable, Output: Sendable>(
        request: StreamingClientRequest<Input>, context: ClientContext,
        next: (StreamingClientRequest<Input>, ClientContext) async throws
            -> StreamingClientResponse<Output>
    ) async throws -> StreamingClientResponse<Output> {
        if let refusal = ledger.refusal(for: context) {
            throw RPCError(code: .unavailable, message: refusal)
        }
        return try await next(request, context)
    }
}

/// At the end of a client connection's pipeline: once the TLS handshake completes, writes the
/// server's identity (from its verified certificate) into the ledger under the connection's
/// two addresses, and removes it when the connection closes.
final class ServerCertificateRecorder: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny

    let ledger: ServerIdentityLedger
    private var recordedAs: String?

    init(ledger: ServerIdentityLedger) {
        self.ledger = ledger
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case TLSUserEvent.handshakeCompleted = event {
            let connection = ServerIdentityLedger.connection(
                local: Self.describe(context.channel.localAddress),
                remote: Self.describe(context.channel.remoteAddress))
            if let presented = Self.presented(context) {
                ledger.record(presented, connection: connection)
                recordedAs = connection
            }
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        if let recordedAs { ledger.forget(connection: recordedAs) }
        recordedAs = nil
        context.fireChannelInactive()
    }

    private static func presented(_ context: ChannelHandlerContext) -> ServerIdentityLedger
        .Presented?
    {
        guard let peer = try? context.pipeline.syncOperations.nioSSL_peerCertificate(),
            let der = try? peer.toDERBytes(),
            let certificate = try? Certificate(derEncoded: der)
        else { return nil }
        if let identity = PeerIdentity(certificate: certificate) { return .identity(identity) }
        return .noRole(subject: "\(certificate.subject)")
    }

    /// An address as grpc-swift-nio-transport writes a call's `localPeer`/`remotePeer`
    /// ("ipv4:127.0.0.1:7401", "ipv6:[::1]:7401"), so the interceptor finds the entry.
    static func describe(_ address: NIOCore.SocketAddress?) -> String {
        switch address {
        case .v4(let ipv4)?: "ipv4:\(ipv4.host):\(address?.port ?? 0)"
        case .v6(let ipv6)?: "ipv6:[\(ipv6.host)]:\(address?.port ?? 0)"
        case .unixDomainSocket?: "unix:\(address?.pathname ?? "")"
        case nil: "<unknown>"
        }
    }
}

extension ClusterSecurity {
    /// A client transport configuration that records each TLS server's identity into
    /// `ledger`, with the interceptor that checks it; plaintext: the configuration as it is
    /// and no interceptor (nothing to check).
    func serverRoleCheck(
        _ config: HTTP2ClientTransport.Posix.Config
    ) -> (HTTP2ClientTransport.Posix.Config, [any ClientInterceptor]) {
        guard !isInsecure else { return (config, []) }
        return ServerIdentityLedger.checking(config)
    }
}

extension ServerIdentityLedger {
    /// `config` with a recorder on every TLS connection, and the interceptor checking calls
    /// against what it recorded.
    static func checking(
        _ config: HTTP2ClientTransport.Posix.Config
    ) -> (HTTP2ClientTransport.Posix.Config, [any ClientInterceptor]) {
        let ledger = ServerIdentityLedger()
        var config = config
        let earlier = config.channelDebuggingCallbacks.onCreateTCPConnection
        config.channelDebuggingCallbacks.onCreateTCPConnection = { channel in
            let added = channel.eventLoop.submit {
                try channel.pipeline.syncOperations.addHandler(
                    ServerCertificateRecorder(ledger: ledger))
            }
            guard let earlier else { return added }
            return added.flatMap { earlier(channel) }
        }
        return (config, [ServerRoleCheckInterceptor(ledger: ledger)])
    }
}
