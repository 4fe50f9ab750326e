import Foundation
import Hummingbird
import NIOCore
import ServiceKit

/// The OpenAI-compatible HTTP API on the gateway's HTTP port: POST /v1/chat/completions,
/// POST /v1/completions (whole or streamed as server-sent events) and GET /v1/models.
/// Every failure is a JSON error in OpenAI's shape; nothing a client sends can crash it.
struct OpenAIRoutes: Sendable {
    let engine: GatewayEngine
    static let maxBodyBytes = 8 << 20

    func register(on router: Router<HTTPEndpoint.Context>) {
        router.post("/v1/chat/completions") { request, _ in await complete(request, endpoint: .chat)
        }
        router.post("/v1/completions") { request, _ in
            await complete(request, endpoint: .completion)
        }
        router.get("/v1/models") { _, _ in await models() }
    }

    private func complete(_ request: Request, endpoint: OpenAIRequest.Endpoint) async -> Response {
        let api = endpoint == .chat ? "http_chat" : "http_completions"
        do {
            var request = request
            let body: ByteBuffer
            do {
                body = try await request.collectBody(upTo: Self.maxBodyBytes)
            } catch is NIOTooManyBytesError {
                GatewayMetrics.request(api: api, outcome: "invalidArgument")
                return Self.errorResponse(
                    status: .contentTooLarge,
                    message: "the request body exceeds \(Self.maxBodyBytes) bytes",
                    type: "invalid_request_error", code: "request_too_large")
            }
            let parsed = try OpenAIRequest(body: Data(body.readableBytesView), endpoint: endpoint)
            let session = try await engine.prepare(
                model: parsed.model, prompt: parsed.prompt, sampling: parsed.sampling)
            let header = OpenAIStream.Header(
                id: (endpoint == .chat ? "chatcmpl-" : "cmpl-") + Self.randomID(),
                created: Int(Date().timeIntervalSince1970),
                model: parsed.model.isEmpty ? session.vocabulary.model.name : parsed.model,
                endpoint: endpoint)
            if parsed.stream {
                return try await OpenAIStream.start(
                    session: session, header: header, includeUsageChunk: parsed.includeUsageChunk,
                    api: api)
            }
            let response = try await wholeCompletion(session: session, header: header)
            GatewayMetrics.request(api: api, outcome: "ok")
            return response
        } catch {
            let failure = GatewayError(error)
            GatewayMetrics.request(api: api, outcome: "\(failure.kind)")
            return Self.errorResponse(failure)
        }
    }

    /// Runs the whole generation, then answers with one JSON body.
    private func wholeCompletion(session: GenerationSession, header: OpenAIStream.Header)
        async throws -> Response
    {
        var text = ""
        var finish = "stop"
        var completionTokens = 0
        _ = try await session.run { update in
            text += update.text
            completionTokens = update.completionTokens
            if let reason = update.finishReason { finish = reason.openAIName }
        }
        let choice =
            header.endpoint == .chat
            ? OpenAIChoice(
                message: OpenAIMessage(role: "assistant", content: text), finishReason: finish)
            : OpenAIChoice(text: text, finishReason: finish)
        let body = OpenAICompletion(
            id: header.id, object: header.endpoint == .chat ? "chat.completion" : "text_completion",
            created: header.created,
            model: header.model, choices: [choice],
            usage: OpenAIUsage(
                promptTokens: session.prompt.count, completionTokens: completionTokens))
        return Self.jsonResponse(.ok, OpenAIJSON.encode(body))
    }

    private func models() async -> Response {
        do {
            let served = try await engine.servedModels()
            let created = Int(Date().timeIntervalSince1970)
            let list = OpenAIModelList(
                data: served.map {
                    .init(
                        id: $0.model.name.isEmpty ? $0.model.sha256 : $0.model.name,
                        created: created,
                        sha256: $0.model.sha256, contextLength: $0.contextLength, ready: $0.ready)
                })
            return Self.jsonResponse(.ok, OpenAIJSON.encode(list))
        } catch {
            return Self.errorResponse(GatewayError(error))
        }
    }

    // MARK: Responses

    static func errorResponse(_ error: GatewayError) -> Response {
        jsonResponse(error.httpStatus, OpenAIJSON.encode(OpenAIErrorBody(error)))
    }

    static func errorResponse(
        status: HTTPResponse.Status, message: String, type: String, param: String? = nil,
        code: String?
    ) -> Response {
        let body = OpenAIErrorBody(
            error: .init(message: message, type: type, param: param, code: code))
        return jsonResponse(status, OpenAIJSON.encode(body))
    }

    static func jsonResponse(_ status: HTTPResponse.Status, _ data: Data) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        return Response(
            status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    static func randomID() -> String {
        String(UInt64.random(in: 0...UInt64.max), radix: 16)
            + String(UInt32.random(in: 0...UInt32.max), radix: 16)
    }
}
