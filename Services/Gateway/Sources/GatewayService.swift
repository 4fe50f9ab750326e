import GRPCCore
import Inference
import ServiceKit
import TesseraProto
import Tokenization

/// The public gRPC API for apps: streaming generation from a prompt or a conversation, and
/// the list of served models. Errors leave as gRPC statuses through `GatewayError+GRPC.swift`.
///
/// Every RPC needs an API key in the `authorization` metadata (`Bearer KEY`), checked by
/// `auth` before any work.
struct GatewayService: Tessera_V1_Gateway.ServiceProtocol, DescribedService {
    let engine: GatewayEngine
    let auth: APIKeyAuthenticator

    static let healthName = "tessera.v1.Gateway"
    var healthName: String { Self.healthName }

    func generate(
        request: ServerRequest<Tessera_V1_GenerateRequest>, context: ServerContext
    ) async throws -> StreamingServerResponse<Tessera_V1_GenerateResponse> {
        let message = request.message
        return try await stream(
            api: "grpc_generate", model: message.model,
            prompt: .text(message.prompt, parseSpecial: message.parseSpecial),
            sampling: message.sampling, topLogits: message.topLogits, requestID: message.requestID,
            deadline: RequestDeadline(request.metadata),
            authorization: Self.authorization(request.metadata))
    }

    func chat(
        request: ServerRequest<Tessera_V1_ChatRequest>, context: ServerContext
    ) async throws -> StreamingServerResponse<Tessera_V1_GenerateResponse> {
        let message = request.message
        let messages = message.messages.map { ChatMessage(role: $0.role, content: $0.content) }
        return try await stream(
            api: "grpc_chat", model: message.model,
            prompt: .chat(messages, parseSpecial: message.parseSpecial),
            sampling: message.sampling,
            topLogits: message.topLogits, requestID: message.requestID,
            deadline: RequestDeadline(request.metadata),
            authorization: Self.authorization(request.metadata))
    }

    func listServedModels(
        request: ServerRequest<Tessera_V1_ListServedModelsRequest>, context: ServerContext
    ) async throws -> ServerResponse<Tessera_V1_ListServedModelsResponse> {
        try await auth.check(authorization: Self.authorization(request.metadata))
        let models = try await engine.servedModels()
        return ServerResponse(
            message: .with { $0.models = models.map(Tessera_V1_ServedModel.init) })
    }

    /// Prepares before answering (so bad requests get their status at once), then streams one
    /// message per token; the last carries finish_reason and usage.
    private func stream(
        api: String, model: String, prompt: PromptInput, sampling: Tessera_V1_SamplingParams,
        topLogits: UInt32,
        requestID given: String, deadline: RequestDeadline?, authorization: String?
    ) async throws -> StreamingServerResponse<Tessera_V1_GenerateResponse> {
        // The caller's id when usable, else a new one; every response message echoes it.
        let requestID = RequestID.accept(given)
        let session: GenerationSession
        var ticket: KeyTicket?
        do {
            ticket = try await auth.admit(authorization: authorization)
            session = try await engine.prepare(
                model: model, prompt: prompt, sampling: sampling, topLogits: topLogits,
                requestID: requestID, deadline: deadline, ticket: ticket)
        } catch {
            ticket?.finish()
            let failure = GatewayError(error)
            GatewayMetrics.request(api: api, outcome: "\(failure.kind)")
            throw failure
        }
        return StreamingServerResponse { [ticket] writer in
            defer { ticket?.finish() }
            do {
                _ = try await session.run { update in
                    try await writer.write(
                        Tessera_V1_GenerateResponse(
                            update, promptTokens: session.prompt.count, requestID: requestID))
                }
                GatewayMetrics.request(api: api, outcome: "ok")
                return [:]
            } catch is CancellationError {
                GatewayMetrics.request(api: api, outcome: "cancelled")
                throw RPCError(code: .cancelled, message: "the request was cancelled")
            } catch {
                let failure = GatewayError(error)
                GatewayMetrics.request(api: api, outcome: "\(failure.kind)")
                throw failure
            }
        }
    }
}

extension GatewayService {
    /// The `authorization` metadata (`Bearer KEY`), as HTTP's header carries it.
    static func authorization(_ metadata: Metadata) -> String? {
        metadata[stringValues: "authorization"].first(where: { _ in true })
    }
}

extension Tessera_V1_GenerateResponse {
    /// One streamed token; the last also carries the finish reason and usage.
    init(_ update: GenerationUpdate, promptTokens: Int, requestID: String) {
        self.init()
        text = update.text
        tokenIds = [update.tokenID].wireTokenIDs
        logprob = update.logprob
        topLogits = update.topLogits.map {
            Tessera_V1_TokenLogit(token: $0.tokenID, logit: $0.logit, logprob: $0.logprob)
        }
        self.requestID = requestID
        if let finish = update.finishReason {
            finishReason = finish == .length ? .length : .stop
            usage = .with {
                $0.promptTokens = UInt32(promptTokens)
                $0.completionTokens = UInt32(update.completionTokens)
                $0.totalTokens = UInt32(promptTokens + update.completionTokens)
            }
            if let issued = update.receipt { receipt = Tessera_V1_Receipt(issued) }
        }
    }
}

extension Tessera_V1_ServedModel {
    init(_ served: ServedModel) {
        self.init()
        name = served.model.name
        model = Tessera_V1_ModelRef(served.model)
        contextLength = UInt32(clamping: served.contextLength)
        ready = served.ready
        state = served.state
        replicas = UInt32(clamping: served.replicas)
    }
}
