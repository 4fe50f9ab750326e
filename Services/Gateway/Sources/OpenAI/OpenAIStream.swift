import Foundation
import Hummingbird
import NIOCore
import ServiceKit
import TesseraProto
import Tokenization

/// Streamed completions as server-sent events: `data: {chunk}\n\n` per piece of text (each
/// choice with its `index`), a last chunk per choice with the finish reason (and, if asked,
/// one with usage), then `data: [DONE]\n\n`.
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
        /// Alternatives per token when logprobs were asked for.
        var topLogprobs: Int?
    }

    /// Streams the choices of `sessions` (choice i is sessions[i], `index` i in the chunks).
    /// `onEnd` runs once the generation has ended, however it ended.
    static func start(
        sessions: [GenerationSession], header: Header, includeUsageChunk: Bool, api: String,
        onEnd: @escaping @Sendable () -> Void = {}
    ) async throws -> Response {
        let (updates, sink) = AsyncThrowingStream.makeStream(of: (Int, GenerationUpdate).self)
        let firstToken = OneShot<GatewayError?>()
        // Unstructured because the handler must return the Response (its status decided by
        // the first token) while the generation goes on; the response body owns it: its
        // writer cancels it when the stream ends or the client leaves (`defer` below).
        let generation = Task {
            defer { onEnd() }
            do {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for (index, session) in sessions.enumerated() {
                        group.addTask {
                            _ = try await session.run { update in
                                sink.yield((index, update))
                                firstToken.set(nil)
                            }
                        }
                    }
                    try await group.waitForAll()
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
        let promptTokens = sessions[0].prompt.count
        let tokenizer = sessions[0].vocabulary.tokenizer
        return Response(
            status: .ok, headers: headers,
            body: ResponseBody { writer in
                defer { generation.cancel() }
                var choices = sessions.indices.map { _ in
                    ChoiceStream(header: header, tokenizer: tokenizer)
                }
                if header.endpoint == .chat {
                    for index in sessions.indices {
                        try await writer.write(
                            event(
                                chunk(
                                    header, index: index,
                                    delta: OpenAIMessage(role: "assistant", content: ""))))
                    }
                }
                do {
                    for try await (index, update) in updates {
                        for data in choices[index].chunks(for: update, index: index) {
                            try await writer.write(event(data))
                        }
                    }
                    if includeUsageChunk {
                        let usage = OpenAIUsage(
                            promptTokens: promptTokens,
                            completionTokens: choices.reduce(0) { $0 + $1.completionTokens })
                        try await writer.write(event(usageChunk(header, usage)))
                    }
                } catch let failure as GatewayError {
                    try await writer.write(event(OpenAIJSON.encode(OpenAIErrorBody(failure))))
                }
                try await writer.write(ByteBuffer(string: "data: [DONE]\n\n"))
                try await writer.finish(nil)
            })
    }

    /// One choice's chunks: text as it becomes visible, with the logprobs of the tokens since
    /// the last chunk (a token whose text is held back joins the next chunk), then the finish.
    private struct ChoiceStream {
        let header: Header
        var logprobs: OpenAILogprobsBuilder?
        var pending: [OpenAILogprobs.Entry] = []
        var completionTokens = 0

        init(header: Header, tokenizer: Tokenizer) {
            self.header = header
            logprobs = header.topLogprobs.map {
                OpenAILogprobsBuilder(tokenizer: tokenizer, top: $0)
            }
        }

        mutating func chunks(for update: GenerationUpdate, index: Int) -> [Data] {
            completionTokens = update.completionTokens
            if let entry = logprobs?.entry(for: update) { pending.append(entry) }
            let finish = update.finishReason?.openAIName
            guard !update.text.isEmpty || finish != nil else { return [] }
            let attached =
                logprobs == nil ? nil : OpenAILogprobs(endpoint: header.endpoint, entries: pending)
            pending = []
            let receipt = update.receipt.map(OpenAIReceipt.init)
            if header.endpoint == .completion {
                return [
                    chunk(
                        header, index: index, text: update.text, logprobs: attached, finish: finish,
                        receipt: receipt)
                ]
            }
            var out: [Data] = []
            if !update.text.isEmpty || attached.map({ !$0.entries.isEmpty }) == true {
                out.append(
                    chunk(
                        header, index: index, delta: OpenAIMessage(content: update.text),
                        logprobs: attached))
            }
            if let finish {
                out.append(
                    chunk(
                        header, index: index, delta: OpenAIMessage(), finish: finish,
                        receipt: receipt))
            }
            return out
        }
    }

    private static func event(_ json: Data) -> ByteBuffer {
        var buffer = ByteBuffer(string: "data: ")
        buffer.writeBytes(json)
        buffer.writeString("\n\n")
        return buffer
    }

    /// A chat chunk; the finishing one carries the choice's receipt (on the choice and the chunk).
    private static func chunk(
        _ header: Header, index: Int, delta: OpenAIMessage, logprobs: OpenAILogprobs? = nil,
        finish: String? = nil, receipt: OpenAIReceipt? = nil
    ) -> Data {
        OpenAIJSON.encode(
            OpenAICompletion(
                id: header.id, object: "chat.completion.chunk", created: header.created,
                model: header.model,
                choices: [
                    OpenAIChoice(
                        index: index, delta: delta, logprobs: logprobs, finishReason: finish,
                        receipt: receipt)
                ], receipt: receipt))
    }

    private static func chunk(
        _ header: Header, index: Int, text: String, logprobs: OpenAILogprobs?, finish: String?,
        receipt: OpenAIReceipt?
    ) -> Data {
        OpenAIJSON.encode(
            OpenAICompletion(
                id: header.id, object: "text_completion", created: header.created,
                model: header.model,
                choices: [
                    OpenAIChoice(
                        index: index, text: text, logprobs: logprobs, finishReason: finish,
                        receipt: receipt)
                ], receipt: receipt))
    }

    private static func usageChunk(_ header: Header, _ usage: OpenAIUsage) -> Data {
        OpenAIJSON.encode(
            OpenAICompletion(
                id: header.id,
                object: header.endpoint == .chat ? "chat.completion.chunk" : "text_completion",
                created: header.created, model: header.model, choices: [], usage: usage))
    }
}
