import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import ServiceKit

/// The OpenAI-compatible HTTP API on the gateway's HTTP port: POST /v1/chat/completions,
/// POST /v1/completions (whole or streamed as server-sent events), GET /v1/models and
/// /v1/models/{id}. Every failure, an unknown path included, is a JSON error in OpenAI's
/// shape; nothing a client sends can crash it. Every route needs an API key (`auth`):
/// `Authorization: Bearer KEY`, as the OpenAI clients send it.
struct OpenAIRoutes: Sendable {
    let engine: GatewayEngine
    let auth: APIKeyAuthenticator
    static let maxBodyBytes = 8 << 20

    func register(on router: Router<HTTPEndpoint.Context>) {
        router.add(middleware: OpenAINotFound())
        router.post("/v1/chat/completions") { request, context in
            await complete(request, context: context, endpoint: .chat)
        }
        router.post("/v1/completions") { request, context in
            await complete(request, context: context, endpoint: .completion)
        }
        router.get("/v1/models") { request, _ in
            await authorized(request) { await models() }
        }
        router.get("/v1/models/{id}") { request, context in
            await authorized(request) { await model(context.parameters.get("id") ?? "") }
        }
        router.post("/v1/embeddings") { _, _ in
            Self.errorResponse(
                status: .notFound,
                message: "embeddings are not served here: this server only generates text "
                    + "(/v1/chat/completions, /v1/completions)",
                type: "invalid_request_error", code: "not_found")
        }
    }

    private func complete(
        _ request: Request, context: HTTPEndpoint.Context, endpoint: OpenAIRequest.Endpoint
    ) async -> Response {
        // The caller's x-request-id when usable, else a new one: on every log line of the
        // request (gateway and workers) and on the response.
        let requestID = RequestID.accept(request.headers[Self.requestIDField])
        var response = await complete(
            request, context: context, endpoint: endpoint, requestID: requestID)
        response.headers[Self.requestIDField] = requestID
        return response
    }

    static let requestIDField = HTTPField.Name(RequestID.header)!

    private func complete(
        _ request: Request, context: HTTPEndpoint.Context, endpoint: OpenAIRequest.Endpoint,
        requestID: String
    ) async -> Response {
        let api = endpoint == .chat ? "http_chat" : "http_completions"
        // Set once a stream's generation has started: from then on it records its outcome
        // (and ends the key's hold on its stream).
        let streamStarted = OneShot<Void>()
        var ticket: KeyTicket?
        defer { if streamStarted.current == nil { ticket?.finish() } }
        do {
            ticket = try await auth.admit(authorization: request.headers[.authorization])
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
            // Until the response starts, nothing notices a client that leaves: a whole
            // completion would generate to the end (and hold its pipeline) for nobody. So the
            // connection is watched, and its end cancels the generation, which closes the
            // Forward streams and frees the session on every worker. A streamed response,
            // once started, stops by itself at its next failed write (OpenAIStream).
            return try await HTTPEndpoint.cancellingWhenClientLeaves(context) { [ticket] in
                let sessions = try await prepareChoices(
                    parsed, requestID: requestID, ticket: ticket)
                let header = OpenAIStream.Header(
                    id: (endpoint == .chat ? "chatcmpl-" : "cmpl-") + Self.randomID(),
                    created: Int(Date().timeIntervalSince1970),
                    model: parsed.model.isEmpty ? sessions[0].vocabulary.model.name : parsed.model,
                    endpoint: endpoint, topLogprobs: parsed.topLogprobs)
                if parsed.stream {
                    streamStarted.set(())
                    return try await OpenAIStream.start(
                        sessions: sessions, header: header,
                        includeUsageChunk: parsed.includeUsageChunk, api: api,
                        onEnd: { ticket?.finish() })
                }
                let response = try await wholeCompletion(sessions: sessions, header: header)
                GatewayMetrics.request(api: api, outcome: "ok")
                return response
            }
        } catch is HTTPEndpoint.ClientDisconnected {
            if streamStarted.current == nil {
                GatewayMetrics.request(api: api, outcome: "cancelled")
            }
            // Nobody reads it; the access log shows nginx's "client closed request".
            return Self.errorResponse(
                status: .init(code: 499), message: "the client closed the connection",
                type: "invalid_request_error", code: "client_closed_request")
        } catch {
            let failure = GatewayError(error)
            GatewayMetrics.request(api: api, outcome: "\(failure.kind)")
            return Self.errorResponse(failure)
        }
    }

    /// One session per choice (`n`). With a seed, choice i samples with seed + i, so the
    /// choices differ and each is reproducible; without one each gets its own random seed.
    /// Logprobs ask the pipeline for at least one top logit (it then reports log-probabilities).
    private func prepareChoices(
        _ request: OpenAIRequest, requestID: String, ticket: KeyTicket?
    ) async throws -> [GenerationSession] {
        var sessions: [GenerationSession] = []
        for index in 0..<request.choices {
            var sampling = request.sampling
            if sampling.hasSeed { sampling.seed &+= UInt64(index) }
            sessions.append(
                try await engine.prepare(
                    model: request.model, prompt: request.prompt, sampling: sampling,
                    topLogits: UInt32(request.topLogprobs.map { max($0, 1) } ?? 0),
                    requestID: requestID, ticket: ticket))
        }
        return sessions
    }

    /// Runs every choice's generation (concurrently), then answers with one JSON body.
    private func wholeCompletion(sessions: [GenerationSession], header: OpenAIStream.Header)
        async throws -> Response
    {
        let tokenizer = sessions[0].vocabulary.tokenizer
        let choices = try await withThrowingTaskGroup(of: (Int, OpenAIChoice, Int).self) { group in
            for (index, session) in sessions.enumerated() {
                group.addTask {
                    var text = ""
                    var finish = "stop"
                    var completionTokens = 0
                    var builder = header.topLogprobs.map {
                        OpenAILogprobsBuilder(tokenizer: tokenizer, top: $0)
                    }
                    var logprobs = OpenAILogprobs(endpoint: header.endpoint)
                    var receipt: OpenAIReceipt?
                    _ = try await session.run { update in
                        text += update.text
                        completionTokens = update.completionTokens
                        if let reason = update.finishReason { finish = reason.openAIName }
                        if let issued = update.receipt { receipt = OpenAIReceipt(issued) }
                        if let entry = builder?.entry(for: update) {
                            logprobs.entries.append(entry)
                        }
                    }
                    let attached = builder == nil ? nil : logprobs
                    var choice =
                        header.endpoint == .chat
                        ? OpenAIChoice(
                            index: index,
                            message: OpenAIMessage(role: "assistant", content: text),
                            logprobs: attached, finishReason: finish)
                        : OpenAIChoice(
                            index: index, text: text, logprobs: attached, finishReason: finish)
                    choice.receipt = receipt
                    return (index, choice, completionTokens)
                }
            }
            var choices: [(Int, OpenAIChoice, Int)] = []
            for try await choice in group { choices.append(choice) }
            return choices.sorted { $0.0 < $1.0 }
        }
        let body = OpenAICompletion(
            id: header.id, object: header.endpoint == .chat ? "chat.completion" : "text_completion",
            created: header.created,
            model: header.model, choices: choices.map(\.1),
            usage: OpenAIUsage(
                promptTokens: sessions[0].prompt.count,
                completionTokens: choices.reduce(0) { $0 + $1.2 }),
            receipt: choices.first?.1.receipt)
        var response = Self.jsonResponse(.ok, OpenAIJSON.encode(body))
        let receipts = choices.compactMap { $0.1.receipt?.id }
        if !receipts.isEmpty {
            response.headers[HTTPField.Name(OpenAIReceipt.header)!] = receipts.joined(
                separator: ",")
        }
        return response
    }

    /// `answer` for a caller with a live key; 401 for anyone else.
    private func authorized(_ request: Request, _ answer: () async -> Response) async -> Response {
        do {
            try await auth.check(authorization: request.headers[.authorization])
        } catch {
            return Self.errorResponse(error)
        }
        return await answer()
    }

    private func models() async -> Response {
        do {
            let list = OpenAIModelList(data: try await servedModels())
            return Self.jsonResponse(.ok, OpenAIJSON.encode(list))
        } catch {
            return Self.errorResponse(GatewayError(error))
        }
    }

    /// One model by its name (or SHA-256, as `/v1/models` names unnamed models).
    private func model(_ id: String) async -> Response {
        do {
            guard
                let model = try await servedModels().first(where: { $0.id == id || $0.sha256 == id }
                )
            else {
                throw GatewayError(
                    .modelNotFound, "the model '\(id)' does not exist", parameter: "model")
            }
            return Self.jsonResponse(.ok, OpenAIJSON.encode(model))
        } catch {
            return Self.errorResponse(GatewayError(error))
        }
    }

    private func servedModels() async throws -> [OpenAIModelList.Model] {
        let created = Int(Date().timeIntervalSince1970)
        return try await engine.servedModels().map {
            .init(
                id: $0.model.name.isEmpty ? $0.model.sha256 : $0.model.name, created: created,
                sha256: $0.model.sha256, contextLength: $0.contextLength, ready: $0.ready,
                state: $0.state, replicas: $0.replicas)
        }
    }

    // MARK: Responses

    static func errorResponse(_ error: GatewayError) -> Response {
        var response = jsonResponse(error.httpStatus, OpenAIJSON.encode(OpenAIErrorBody(error)))
        if let retryAfter = error.retryAfter {
            // Whole seconds, at least one (RFC 9110's delay-seconds).
            response.headers[.retryAfter] = "\(max(1, retryAfter.components.seconds))"
        }
        return response
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
