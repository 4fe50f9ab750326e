import Foundation
import Hummingbird
import ServiceKit

/// The operator's dashboard on the gateway's HTTP port (docs/dashboard.md): the page at
/// `/dashboard` and the JSON it polls under `/dashboard/api/`. Like /metrics these take no
/// API key. Nothing is kept per client: each poll is one short request, so a dashboard that
/// goes away costs the gateway nothing.
struct DashboardRoutes: Sendable {
    let overview: ClusterOverviewSource
    let activity: GatewayActivity
    let queue: AdmissionQueue

    /// Throughput history a poll gets unless it asks (`?seconds=`), and the most it may ask.
    static let defaultSeconds = 60
    var maxSeconds: Int { activity.throughput.seconds - 1 }

    func register(on router: Router<HTTPEndpoint.Context>) {
        router.get("/dashboard") { _, _ in Self.page() }
        router.get("/dashboard/api/cluster") { _, _ in await cluster() }
        router.get("/dashboard/api/activity") { request, _ in
            activity(secondsParameter: request.uri.queryParameters["seconds"].map(String.init))
        }
        // Registered here so that an unknown API path is answered by the dashboard, not by
        // middleware the app-facing API adds later.
        router.get("/dashboard/api/**") { request, _ in
            OpenAIRoutes.errorResponse(
                status: .notFound,
                message: "unknown dashboard API path: \(request.uri.path) "
                    + "(the API is /dashboard/api/cluster and /dashboard/api/activity)",
                type: "invalid_request_error", code: "not_found")
        }
    }

    private func cluster() async -> Response {
        do {
            let overview = try await overview.overview()
            return Self.json(OpenAIJSON.encode(DashboardJSON.Cluster(overview)))
        } catch {
            return OpenAIRoutes.errorResponse(GatewayError(error))
        }
    }

    func activity(secondsParameter: String?) -> Response {
        var seconds = Self.defaultSeconds
        if let secondsParameter {
            guard let asked = Int(secondsParameter), (1...maxSeconds).contains(asked) else {
                return OpenAIRoutes.errorResponse(
                    GatewayError.invalid(
                        "seconds must be a whole number from 1 to \(maxSeconds) (got \"\(secondsParameter)\")",
                        parameter: "seconds"))
            }
            seconds = asked
        }
        let overview = ActivityOverview(activity: activity, queue: queue, seconds: seconds)
        return Self.json(OpenAIJSON.encode(DashboardJSON.Activity(overview)))
    }

    /// Polled data is never cached by the browser.
    private static func json(_ data: Data) -> Response {
        var response = OpenAIRoutes.jsonResponse(.ok, data)
        response.headers[.cacheControl] = "no-store"
        return response
    }

    /// The page, with a policy that lets it load nothing but itself and its own API (the
    /// browser refuses, and reports, any other source).
    private static func page() -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "text/html; charset=utf-8"
        headers[.cacheControl] = "no-cache"
        headers[.contentSecurityPolicy] =
            "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
            + "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'"
        return Response(
            status: .ok, headers: headers,
            body: .init(byteBuffer: ByteBuffer(string: DashboardPage.html)))
    }
}
