import GRPCCore
import GRPCNIOTransportHTTP2
import ServiceLifecycle

public typealias TesseraClientTransport = HTTP2ClientTransport.Posix
public typealias TesseraGRPCClient = GRPCClient<TesseraClientTransport>

public enum ServiceClient {
    /// An HTTP/2 client for `host:port`; the host may be a DNS name (compose service names)
    /// or an IP. Mutual TLS with the process's certificate unless the process runs
    /// `--insecure`. With TLS, each call also checks that the server's certificate is of the
    /// role that serves the method (`ServerRoleCheckInterceptor`). Run it with
    /// `runConnections()` or as a `ClientService`.
    public static func make(
        _ address: ListenAddress, security: ClusterSecurity = .processWide,
        config: HTTP2ClientTransport.Posix.Config = .defaults
    ) throws -> TesseraGRPCClient {
        let (checkedConfig, roleCheck) = security.serverRoleCheck(config)
        let transport = try HTTP2ClientTransport.Posix(
            target: target(address), transportSecurity: security.client, config: checkedConfig)
        return GRPCClient(
            transport: transport, interceptors: roleCheck + [TraceContextClientInterceptor()])
    }

    /// An IP literal is dialled as such: as a DNS target its text would be sent as the TLS
    /// server name, which may not be an IP (swift-nio-ssl refuses the connection).
    static func target(_ address: ListenAddress) -> any ResolvableTarget {
        if address.host.split(separator: ".").count == 4,
            address.host.allSatisfy({ $0.isNumber || $0 == "." })
        {
            return ResolvableTargets.IPv4.ipv4(address: address.host, port: address.port)
        }
        if address.host.contains(":") {
            return ResolvableTargets.IPv6.ipv6(address: address.host, port: address.port)
        }
        return ResolvableTargets.DNS.dns(host: address.host, port: address.port)
    }

    /// Runs `body` with a connected client and closes it afterwards (for CLIs and tests).
    public static func with<Result: Sendable>(
        _ address: ListenAddress, _ body: (TesseraGRPCClient) async throws -> Result
    ) async throws -> Result {
        let client = try make(address)
        return try await withThrowingDiscardingTaskGroup { group in
            group.addTask { try await client.runConnections() }
            defer { client.beginGracefulShutdown() }
            return try await body(client)
        }
    }

    /// Like `with(_:_:)`, but the whole exchange (connecting, `body`, closing) takes at most
    /// `limit`. Past it, `body` and the connection are cancelled, and the call returns what
    /// `body` returned if it finished, else throws `TimeLimitExceeded`.
    ///
    /// Needed for peers that may be stopped (SIGSTOP) or hung: the kernel completes the TCP
    /// handshake for a stopped process, so the HTTP/2 connection attempt waits for the server's
    /// SETTINGS frame with no deadline; a call's own timeout fails the call, but a graceful
    /// close waits for that attempt to end (grpc-swift-nio-transport's `Subchannel.shutDown`
    /// while connecting), which is when the peer resumes. Cancelling `runConnections()` closes
    /// the connection at once.
    public static func with<Result: Sendable>(
        _ address: ListenAddress, within limit: Duration,
        _ body: @escaping @Sendable (TesseraGRPCClient) async throws -> Result
    ) async throws -> Result {
        let client = try make(address)
        let outcome = await withTaskGroup(of: BoundedOutcome<Result>.self) { group in
            group.addTask {
                try? await client.runConnections()
                return .connectionsEnded
            }
            group.addTask {
                defer { client.beginGracefulShutdown() }
                do {
                    return .finished(.success(try await body(client)))
                } catch {
                    return .finished(.failure(error))
                }
            }
            group.addTask {
                try? await Task.sleep(for: limit)
                return .timeUp
            }
            var outcome: Swift.Result<Result, any Error>?
            var connectionsEnded = false
            var timeUp = false
            while let next = await group.next() {
                switch next {
                // (what `body` did after the time was up is its cancellation: ignored)
                case .finished(let result): if !timeUp { outcome = result }
                case .connectionsEnded: connectionsEnded = true
                case .timeUp:
                    timeUp = true
                    group.cancelAll()
                }
                if outcome != nil && connectionsEnded { group.cancelAll() }
            }
            return outcome
        }
        guard let outcome else { throw TimeLimitExceeded(limit: limit, address: address) }
        return try outcome.get()
    }
}

/// How each part of a bounded exchange ended.
private enum BoundedOutcome<Result: Sendable>: Sendable {
    case finished(Swift.Result<Result, any Error>)
    case connectionsEnded
    case timeUp
}

/// A bounded exchange with a service (`ServiceClient.with(_:within:_:)`) ran out of time.
public struct TimeLimitExceeded: Error, CustomStringConvertible {
    public var limit: Duration
    public var address: ListenAddress

    public var description: String { "\(address) did not answer within \(limit)" }
}

/// Keeps a client's connections running inside a `ServiceGroup`; put it before the
/// services that use the client so it shuts down after them.
///
/// At shutdown the client closes gracefully, but for at most `closeGrace`: a graceful close
/// waits for a connection attempt under way, and with a peer whose name does not resolve
/// (a compose or Kubernetes service that is not up) the attempts never end, so a worker that
/// never registered, or a scheduler whose cache-manager is gone, ignored SIGTERM until it was
/// killed. Past the grace the connections are cancelled: by then the listeners have drained
/// and nothing in flight uses the client. A connection still resolving a name then is not
/// waited for more than another grace (`withBoundedCancellation`).
public struct ClientService: Service {
    public let client: TesseraGRPCClient
    public var closeGrace: Duration = .seconds(2)

    public init(client: TesseraGRPCClient) {
        self.client = client
    }

    public func run() async throws {
        let (client, grace) = (self.client, closeGrace)
        try await withThrowingTaskGroup(of: Bool.self) { group in
            group.addTask {
                // Bounded: connections resolving a peer's name do not end when cancelled.
                try await withBoundedCancellation(grace: grace) {
                    try await client.runConnections()
                }
                return true
            }
            group.addTask {
                try await gracefulShutdown()
                client.beginGracefulShutdown()
                try await Task.sleep(for: grace)
                return false
            }
            // The connections ended (after a graceful close, or failing), or the grace ran out.
            _ = try await group.next()
            group.cancelAll()
        }
    }
}
