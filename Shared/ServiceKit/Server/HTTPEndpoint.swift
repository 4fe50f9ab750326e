import Hummingbird
import NIOCore

/// The HTTP side of every service: `/metrics` (Prometheus), `/healthz` (process alive),
/// `/readyz` (200 only while the health store says SERVING). The gateway adds its API routes.
public enum HTTPEndpoint {
    public typealias Context = BasicRequestContext

    static func makeRouter(health: HealthStatusStore, extraRoutes: (Router<Context>) -> Void)
        -> Router<Context>
    {
        let router = Router(context: Context.self)
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
            return Response(
                status: ready ? .ok : .serviceUnavailable,
                body: .init(byteBuffer: ByteBuffer(string: ready ? "ready\n" : "not ready\n")))
        }
        extraRoutes(router)
        return router
    }
}
