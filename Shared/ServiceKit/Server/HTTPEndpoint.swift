import Hummingbird
import HummingbirdCore
import Logging
import NIOCore

/// The HTTP side of every service: `/metrics` (Prometheus), `/healthz` (process alive),
/// `/readyz` (200 only while the health store says SERVING). The gateway adds its API routes.
public enum HTTPEndpoint {
    public typealias Context = HTTPRequestContext

    /// A connection that sends nothing for this long, between requests or in the middle of
    /// one, is closed (a response being written is never cut): `TESSERA_HTTP_IDLE_TIMEOUT_S`,
    /// 30 by default, for every service.
    static let idleTimeout = TimeAmount.seconds(
        Int64(max(1, EnvironmentDefaults.int("TESSERA_HTTP_IDLE_TIMEOUT_S", 30))))

    /// At most this many connections are open at once; one more is answered 503 and closed
    /// (`HTTPConnections.swift`): `TESSERA_HTTP_MAX_CONNECTIONS`, 1024 by default, for every
    /// service (the gateway also takes `--http-max-connections`).
    public static let maxConnections = max(
        1, EnvironmentDefaults.int("TESSERA_HTTP_MAX_CONNECTIONS", 1024))

    /// HTTP/1.1 with the idle timeout, at most `maxConnections` open connections, each
    /// watched for its client leaving.
    static func server(maxConnections: Int) -> HTTPServerBuilder {
        let limit = HTTPConnectionLimit(maximum: maxConnections)
        return HTTPServerBuilder { responder in
            LimitedHTTP1Channel(
                http: HTTP1Channel(
                    responder: responder, configuration: .init(idleTimeout: idleTimeout)),
                limit: limit)
        }
    }

    /// `operational`: with `/metrics`, `/healthz` and `/readyz` (false for a listener that
    /// serves only an API, when another listener has these).
    static func makeRouter(
        health: HealthStatusStore, logger: Logger, operational: Bool = true,
        extraRoutes: (Router<Context>) -> Void
    ) -> Router<Context> {
        let router = Router(context: Context.self)
        router.add(middleware: AccessLog(logger: logger))
        guard operational else {
            extraRoutes(router)
            return router
        }
        router.get("/metrics") { _, _ -> Response in
            var headers = HTTPFields()
            headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
            return Response(
                status: .ok, headers: headers,
                body: .init(byteBuffer: ByteBuffer(string: ServiceMetrics.render())))
        }
        router.get("/healthz") { _, _ in "ok\n" }
        router.get("/readyz") { _, _ -> Response in
            let ready = health.status(of: "") == .serving
            // Typed like /healthz's answer (Hummingbird types a String response itself).
            var headers = HTTPFields()
            headers[.contentType] = "text/plain; charset=utf-8"
            return Response(
                status: ready ? .ok : .serviceUnavailable, headers: headers,
                body: .init(byteBuffer: ByteBuffer(string: ready ? "ready\n" : "not ready\n")))
        }
        extraRoutes(router)
        return router
    }
}

/// What an HTTP handler knows about its request beyond the request itself: Hummingbird's
/// basics plus the connection, so that a handler can notice its client leaving.
public struct HTTPRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The connection the request came on.
    public let channel: any Channel

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }
}
