import GRPCCore
import GRPCNIOTransportHTTP2

/// Refuses an RPC whose caller's role may not make it (`RolePolicy`), with PERMISSION_DENIED
/// naming the role and the RPC, before the handler sees any of the request. The caller's
/// identity comes from the TLS handshake (the client certificate's subject), never from
/// anything the caller sends; tests on an in-process transport pass their own `identify`
/// (which may read the request's metadata, as production's does not).
public struct RoleCheckInterceptor: ServerInterceptor {
    public typealias Identify = @Sendable (ServerContext, Metadata) -> PeerIdentity?
    let identify: Identify
    let revoked: RevocationList?

    public init(
        identify: @escaping Identify = RoleCheckInterceptor.certificateIdentity,
        revoked: RevocationList? = nil
    ) {
        self.identify = identify
        self.revoked = revoked
    }

    /// The identity in the client certificate the transport verified.
    public static let certificateIdentity: Identify = { context, _ in
        guard let posix = context.transportSpecific as? HTTP2ServerTransport.Posix.Context,
            let certificate = posix.peerCertificate
        else { return nil }
        return PeerIdentity(certificate: certificate)
    }

    public func intercept<Input: Sendable, Output: Sendable>(
        request: StreamingServerRequest<Input>,
        context: ServerContext,
        next:
            @Sendable (StreamingServerRequest<Input>, ServerContext) async throws ->
            StreamingServerResponse<Output>
    ) async throws -> StreamingServerResponse<Output> {
        let method = context.descriptor.fullyQualifiedMethod
        let peer = identify(context, request.metadata)
        if let peer, let revoked, revoked.contains(peer.name) {
            throw RPCError(
                code: .permissionDenied,
                message: "the certificate '\(peer.name)' (\(peer.role)) is revoked")
        }
        if let refusal = RolePolicy.refusal(of: peer, calling: method) {
            throw RPCError(code: .permissionDenied, message: refusal)
        }
        return try await next(request, context)
    }
}
