import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Hummingbird
import Logging
import ServiceLifecycle

/// Everything one Tessera executable runs: a gRPC server (its services plus
/// `grpc.health.v1.Health`), an HTTP listener (`/metrics`, `/healthz`, `/readyz`, extra
/// routes) and background services, in one `ServiceGroup` with graceful shutdown.
/// Each service's `build…` function fills one of these in; tests start it in-process.
///
/// The group stops its services one at a time in reverse order, each after the one before
/// it has finished. So the order is: `dependencies` (what request handlers call: client
/// pools, background work), then the listeners, then `backgroundServices` (loops of the
/// service's own). At shutdown the background loops stop first, the listeners then drain
/// their in-flight requests, and the dependencies those requests use close last.
public struct ServiceApplication: Sendable {
    public var name: String
    public var grpcAddress: ListenAddress
    public var httpAddress: ListenAddress?
    public var logger: Logger
    public var health: HealthStatusStore
    public var rpcServices: [any RegistrableRPCService]
    public var httpRoutes: @Sendable (Router<HTTPEndpoint.Context>) -> Void
    /// A second HTTP listener for operators: `/metrics`, `/healthz`, `/readyz` and
    /// `opsRoutes` move there, and the `httpAddress` listener keeps only `httpRoutes` (the
    /// gateway: its API needs a key, these stay open). nil: one listener serves both.
    public var opsAddress: ListenAddress?
    public var opsRoutes: @Sendable (Router<HTTPEndpoint.Context>) -> Void = { _ in }
    /// Open HTTP connections at most; beyond, a new one is answered 503 and closed.
    public var httpMaxConnections = HTTPEndpoint.maxConnections
    public var backgroundServices: [any Service]
    /// Services the request handlers use; they outlive the listeners' drain at shutdown.
    public var dependencies: [any Service]
    /// Runs once the listeners are bound; when it returns the service reports SERVING.
    /// Throwing ends the service (for example a worker that cannot load its configuration).
    public var readiness: @Sendable (BoundAddresses) async throws -> Void
    /// The addresses actually bound (port 0 picks a free port): background services await it.
    public let bound = OneShot<BoundAddresses>()
    /// Mutual TLS (with a role check on every RPC) or plaintext; the process's setting
    /// (`ServiceRunner` installs it from the flags) unless a test sets another.
    public var security = ClusterSecurity.processWide
    /// Who the caller is, for the role check; nil: from the TLS client certificate, and no
    /// check at all when `security` is plaintext. Tests on an in-process transport set it.
    public var peerIdentity: RoleCheckInterceptor.Identify?
    /// Largest request message, streams per connection, idle connection timeout.
    public var messageLimits: MessageLimits
    /// An RPC that arrives without trace context starts a trace (the gateway, where requests
    /// come in); otherwise only RPCs that carry one get a span (TraceContextServerInterceptor).
    public var startsTraces = false

    public init(
        name: String, grpcAddress: ListenAddress, httpAddress: ListenAddress?, logger: Logger,
        health: HealthStatusStore = HealthStatusStore(), rpcServices: [any RegistrableRPCService],
        httpRoutes: @escaping @Sendable (Router<HTTPEndpoint.Context>) -> Void = { _ in },
        dependencies: [any Service] = [], backgroundServices: [any Service] = [],
        readiness: @escaping @Sendable (BoundAddresses) async throws -> Void = { _ in }
    ) {
        self.readiness = readiness
        self.name = name
        self.messageLimits = MessageLimits.forService(name)
        self.grpcAddress = grpcAddress
        self.httpAddress = httpAddress
        self.logger = logger
        self.health = health
        self.rpcServices = rpcServices
        self.httpRoutes = httpRoutes
        self.backgroundServices = backgroundServices
        self.dependencies = dependencies
    }

    /// Binds the listeners and starts everything. Returns once both listeners are bound,
    /// or throws `ServiceError.cannotListen` naming the address and reason.
    public func start(handleSignals: Bool = false) async throws -> RunningService {
        let transport = HTTP2ServerTransport.Posix(
            address: .ipv4(host: grpcAddress.host, port: grpcAddress.port),
            transportSecurity: security.server, config: security.serverConfig(messageLimits))
        let (events, eventSink) = AsyncStream<StartEvent>.makeStream()
        var onHTTPBound: (@Sendable (Int) -> Void)?
        if httpAddress != nil { onHTTPBound = { eventSink.yield(.httpBound($0)) } }
        var onOpsBound: (@Sendable (Int) -> Void)?
        if opsAddress != nil { onOpsBound = { eventSink.yield(.opsBound($0)) } }
        let capped = MessageCapTransport(
            base: transport, maxMessageBytes: messageLimits.maxReceiveBytes)
        let services = services(
            serving: capped, onHTTPBound: onHTTPBound, onOpsBound: onOpsBound,
            onServerFailure: { eventSink.yield(.failed($0)) })

        let group = ServiceGroup(
            configuration: .init(
                services: services.map { .init(service: $0) },
                gracefulShutdownSignals: handleSignals ? [.sigterm, .sigint] : [],
                logger: logger))
        // Unstructured because `start` returns while the group runs; the RunningService owns
        // the task (`shutdown()` and `wait()` end and await it).
        let runTask = Task {
            defer { eventSink.finish() }
            do { try await group.run() } catch {
                eventSink.yield(.failed(error))
                throw error
            }
        }

        do {
            let addresses = try await boundAddresses(of: transport, events: events)
            bound.set(addresses)
            logger.info(
                "listening",
                metadata: [
                    "grpc": "\(addresses.grpc)", "http": "\(addresses.http?.description ?? "-")",
                    "ops": "\(addresses.ops?.description ?? "-")",
                ])
            return RunningService(addresses: addresses, group: group, task: runTask)
        } catch {
            runTask.cancel()
            throw error
        }
    }

    /// Everything one run consists of, around a gRPC server on `transport`: the server (with
    /// `grpc.health.v1.Health` and the metrics interceptor), the HTTP listener when there is
    /// one, the background services, readiness, and the shutdown marker.
    func services<Transport: ServerTransport>(
        serving transport: Transport, onHTTPBound: (@Sendable (Int) -> Void)?,
        onOpsBound: (@Sendable (Int) -> Void)? = nil,
        onServerFailure: @escaping @Sendable (any Error) -> Void = { _ in }
    ) -> [any Service] {
        ServiceMetrics.bootstrap()
        var interceptors: [any ServerInterceptor] = [
            RPCMetricsInterceptor(), TraceContextServerInterceptor(startsTraces: startsTraces),
        ]
        if let peerIdentity {
            interceptors.append(RoleCheckInterceptor(identify: peerIdentity))
        } else if !security.isInsecure {
            interceptors.append(RoleCheckInterceptor(revoked: security.revocationList))
        }
        // NOT_SERVING until the service itself says it is ready.
        health.set(.notServing)
        for service in rpcServices {
            if let described = service as? any DescribedService {
                health.set(.notServing, for: described.healthName)
            }
        }
        let server = GRPCServer(
            transport: transport, services: rpcServices + [HealthService(store: health)],
            interceptors: interceptors)
        var services: [any Service] = dependencies
        services.append(GRPCServerService(server: server, onFailure: onServerFailure))
        if let httpAddress, let onHTTPBound {
            let router = HTTPEndpoint.makeRouter(
                health: health, logger: logger, operational: opsAddress == nil,
                extraRoutes: httpRoutes)
            services.append(httpListener(router, on: httpAddress, onBound: onHTTPBound))
        }
        if let opsAddress, let onOpsBound {
            let router = HTTPEndpoint.makeRouter(
                health: health, logger: logger, extraRoutes: opsRoutes)
            services.append(httpListener(router, on: opsAddress, onBound: onOpsBound))
        }
        services += backgroundServices
        services.append(ReadinessService(application: self))
        services.append(ShutdownMarker(health: health))  // last in, first told of shutdown
        return services
    }
}

extension ServiceApplication {
    fileprivate func httpListener(
        _ router: Router<HTTPEndpoint.Context>, on address: ListenAddress,
        onBound: @escaping @Sendable (Int) -> Void
    ) -> any Service {
        Application(
            router: router,
            server: HTTPEndpoint.server(maxConnections: httpMaxConnections),
            configuration: .init(
                address: .hostname(address.host, port: address.port), serverName: name),
            onServerRunning: { channel in onBound(channel.localAddress?.port ?? address.port) },
            logger: logger)
    }
}

enum StartEvent: Sendable {
    case httpBound(Int)
    case opsBound(Int)
    case failed(any Error)
}

public struct BoundAddresses: Sendable {
    public var grpc: ListenAddress
    public var http: ListenAddress?
    /// The operators' HTTP listener, when the service has its own (`opsAddress`).
    public var ops: ListenAddress?

    public init(grpc: ListenAddress, http: ListenAddress?, ops: ListenAddress? = nil) {
        self.grpc = grpc
        self.http = http
        self.ops = ops
    }
}

/// A service started by `ServiceApplication.start`.
public final class RunningService: Sendable {
    public let addresses: BoundAddresses
    private let group: ServiceGroup
    private let task: Task<Void, any Error>

    init(addresses: BoundAddresses, group: ServiceGroup, task: Task<Void, any Error>) {
        self.addresses = addresses
        self.group = group
        self.task = task
    }

    /// Stops accepting work, lets in-flight RPCs finish, and returns when everything stopped.
    public func shutdown() async {
        await group.triggerGracefulShutdown()
        _ = try? await task.value
    }

    /// Waits until the service group ends (signal, shutdown, or a failing service).
    public func wait() async throws {
        try await task.value
    }
}

/// Marks the health store NOT_SERVING as soon as graceful shutdown begins, so that load
/// balancers and `tessera up` stop sending new work before the listeners close.
struct ShutdownMarker: Service {
    let health: HealthStatusStore

    func run() async throws {
        try? await gracefulShutdown()
        health.markAllNotServing()
        health.finishWatchers()
    }
}

/// Waits for the listeners, runs the application's readiness step, then reports SERVING
/// for the server and each of its described services.
struct ReadinessService: Service {
    let application: ServiceApplication

    func run() async throws {
        let addresses = try await application.bound.value
        do {
            try await cancelWhenGracefulShutdown {
                try await application.readiness(addresses)
            }
        } catch is CancellationError where Task.isShuttingDownGracefully {
            return  // stopped before it was ready (SIGTERM during start-up): not a failure
        }
        guard !Task.isShuttingDownGracefully else { return }
        for service in application.rpcServices {
            if let described = service as? any DescribedService {
                application.health.set(.serving, for: described.healthName)
            }
        }
        application.health.set(.serving)
        application.logger.info("serving")
        try? await gracefulShutdown()
    }
}

/// A gRPC service that reports health under its fully-qualified name.
public protocol DescribedService {
    var healthName: String { get }
}

public enum ServiceError: Error, CustomStringConvertible {
    case cannotListen(String, String)
    case configuration(String)

    public var description: String {
        switch self {
        case .cannotListen(let address, let reason): "cannot listen on \(address): \(reason)"
        case .configuration(let message): "invalid configuration: \(message)"
        }
    }
}
