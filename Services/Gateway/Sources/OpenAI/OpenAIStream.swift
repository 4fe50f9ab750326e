import Foundation
import Hummingbird
import NIOCore
import ServiceKit
import TesseraProto

/// Streamed completions as server-sent events: `data: {chunk}\n\n` per piece of text, a last
/// chunk with the finish reason (and, if asked, one with usage), then `data: [DONE]\n\n`.
///
/// The generation runs on its own task feeding a buffer. The HTTP status is decided once the
/// first token arrives (so "no pipeline" is still a 503, not a broken stream); after that an
/// error is sent as an `error` event. A client that disconnects ends the write loop, which
/// cancels the generation and with it the pipeline's Forward stream.
enum OpenAIStream {
    struct Header: Sendable {
        var id: String
        var created: Int
        var model: String
        var endpoint: OpenAIRequest.Endpoint
    }

    static func start(
        session: GenerationSession, header: Header, includeUsageChunk: Bool, api: String
    ) async throws -> Response {
        let (updates, sink) = AsyncThrowingStream.makeStream(of: GenerationUpdate.self)
        let firstToken = OneShot<GatewayError?>()
        // Unstructured because the handler must return the Response (its status decided by
        // the first token) while the generation goes on; the response body owns it: its
        // writer cancels it when the stream ends or the client leaves (`defer` below).
        let generation = Task {
            do {
                _ = try await session.run { update in
                    sink.yield(update)
                    firstToken.set(nil)
                }
                sink.finish()
                GatewayMetrics.request(api: api, outcome: "ok")
            } catch {
                let failure = GatewayError(error)
                GatewayMetrics.request(
                    api: api, outcome: error is CancellationError ? "cancelled" : "\(failure.kind)")
                firstToken.set(failure)
                sink.finish(throwing: failure)
            }
        }
        let early: GatewayError?
        do {
            early = try await firstToken.value
        } catch {
            generation.cancel()
            throw error
        }
        if let early { throw early }

        var headers = HTTPFields()
        headers[.contentType] = "text/event-stream"
        headers[.cacheControl] = "no-cache"
        let promptTokens = session.prompt.count
        return Response(
            status: .ok, headers: headers,
            body: ResponseBody { writer in
                defer { generation.cancel() }
                if header.endpoint == .chat {
                    try await writer.write(
                        event(chunk(header, delta: OpenAIMessage(role: "assistant", content: ""))))
                }
                var completionTokens = 0
                do {
                    for try await update in updates {
                        completionTokens = update.completionTokens
                        let finish = update.finishReason?.openAIName
                        if header.endpoint == .completion {
                            if !update.text.isEmpty || finish != nil {
                                try await writer.write(
                                    event(chunk(header, text: update.text, finish: finish)))
                            }
                            continue
                        }
                        if !update.text.isEmpty {
                            try await writer.write(
                                event(chunk(header, delta: OpenAIMessage(content: update.text))))
                        }
                        if let finish {
                            try await writer.write(
                                event(chunk(header, delta: OpenAIMessage(), finish: finish)))
                        }
                    }
                    if includeUsageChunk {
                        let usage = OpenAIUsage(
                            promptTokens: promptTokens, completionTokens: completionTokens)
                        try await writer.write(event(usageChunk(header, usage)))
                    }
                } catch let failure as GatewayError {
                    try await writer.write(event(OpenAIJSON.encode(OpenAIErrorBody(failure))))
                }
                try await writer.write(ByteBuffer(string: "data: [DONE]\n\n"))
                try await writer.finish(nil)
            })
    }

    private static func event(_ json: Data) -> ByteBuffer {
        var buffer = ByteBuffer(string: "data: ")
        buffer.writeBytes(json)
        buffer.writeString("\n\n")
        return buffer
    }

    private static func chunk(_ header: Header, delta: OpenAIMessage, finish: String? = nil) -> Data
    {
        OpenAIJSON.encode(
            OpenAICompletion(
                id: header.id, object: "chat.completion.chunk", created: header.created,
                model: header.model,
                choices: [OpenAIChoice(delta: delta, finishReason: finish)]))
    }

    private static func chunk(_ header: Header, text: String, finish: String?) -> Data {
        OpenAIJSON.encode(
            OpenAICompletion(
                id: header.id, object: "text_completion", created: header.created,
                model: header.model,
                choices: [OpenAIChoice(text: text, finishReason: finish)]))
    }

    private static func usageChunk(_ header: Header, _ usage: OpenAIUsage) -> Data {
        OpenAIJSON.encode(
            OpenAICompletion(
                id: header.id,
                object: header.endpoint == .chat ? "chat.completion.chunk" : "text_completion",
                created: header.created, model: header.model, choices: [], usage: usage))
    }
}
