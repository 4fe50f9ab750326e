import HTTPTypes
import Hummingbird
import Logging

/// One log line per HTTP request: method, path, status and the time to the response's head
/// (a streamed body goes on after it). The API's requests are logged at info; the
/// operations endpoints that scrapers and health checks hit every few seconds at debug.
struct AccessLog<Context: RequestContext>: RouterMiddleware {
    static var quietPaths: Set<String> { ["/metrics", "/healthz", "/readyz"] }

    let logger: Logger

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        let start = ContinuousClock.now
        let level: Logger.Level = Self.quietPaths.contains(request.uri.path) ? .debug : .info
        do {
            let response = try await next(request, context)
            log(
                request, status: response.status.code, since: start, level: level,
                requestID: response.headers[HTTPField.Name(RequestID.header)!])
            return response
        } catch {
            let status = (error as? any HTTPResponseError)?.status.code ?? 500
            log(request, status: status, since: start, level: level)
            throw error
        }
    }

    private func log(
        _ request: Request, status: Int, since start: ContinuousClock.Instant, level: Logger.Level,
        requestID: String? = nil
    ) {
        var metadata: Logger.Metadata = [
            "method": "\(request.method)", "path": "\(request.uri.path)", "status": "\(status)",
            "ms": "\((ContinuousClock.now - start).inMilliseconds)",
        ]
        if let requestID { metadata[RequestID.logKey] = "\(requestID)" }
        logger.log(level: level, "http request", metadata: metadata)
    }
}
