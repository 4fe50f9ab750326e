import Hummingbird
import ServiceKit

/// Unknown paths and wrong methods answered in OpenAI's JSON error shape (Hummingbird's own
/// answer is an empty 404): 405 with `Allow` for a known API path, 404 otherwise.
struct OpenAINotFound: RouterMiddleware {
    typealias Context = HTTPEndpoint.Context

    /// The API's paths and the method each takes.
    static func allowedMethod(for path: String) -> HTTPRequest.Method? {
        switch path {
        case "/v1/chat/completions", "/v1/completions", "/v1/embeddings": .post
        case "/v1/models", "/openapi.json": .get
        default: path.hasPrefix("/v1/models/") ? .get : nil
        }
    }

    func handle(
        _ request: Request, context: Context,
        next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError where error.status == .notFound {
            let path = request.uri.path
            guard let allowed = Self.allowedMethod(for: path) else {
                return OpenAIRoutes.errorResponse(
                    status: .notFound, message: "unknown path: \(request.method) \(path)",
                    type: "invalid_request_error", code: "not_found")
            }
            var response = OpenAIRoutes.errorResponse(
                status: .methodNotAllowed,
                message: "\(path) takes \(allowed), not \(request.method)",
                type: "invalid_request_error", code: "method_not_allowed")
            response.headers[.allow] = allowed.rawValue
            return response
        }
    }
}
