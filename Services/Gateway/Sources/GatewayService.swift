import GRPCCore
import ServiceKit
import TesseraProto
import Tokenization

/// The public gRPC API for apps: streaming generation from a prompt or a conversation, and
/// the list of served models.
struct GatewayService: Tessera_V1_Gateway.ServiceProtocol, DescribedService {
    let engine: GatewayEngine

    var healthName: String { "tessera.v1.Gateway" }

    func generate(
        request: ServerRequest<Tessera_V1_GenerateRequest>, context: ServerContext
    ) async throws -> StreamingServerResponse<Tessera_V1_GenerateResponse> {
        let message = request.message
        return try await stream(
            api: "grpc_generate", model: message.model, prompt: .text(message.prompt, parseSpecial: message.parseSpecial),
            sampling: message.sampling, topLogits: message.topLogits, requestID: message.requestID)
    }

    func chat(
        request: ServerRequest<Tessera_V1_ChatRequest>, context: ServerContext
    ) async throws -> StreamingServerResponse<Tessera_V1_GenerateResponse> {
        let message = request.message
        let messages = message.messages.map { ChatMessage(role: $0.role, content: $0.content) }
        return try await stream(
            api: "grpc_chat", model: message.model, prompt: .chat(messages), sampling: message.sampling,
            topLogits: message.topLogits, requestID: message.requestID)
    }

    func listServedModels(
        request: ServerRequest<Tessera_V1_ListServedModelsRequest>, context: ServerContext
    ) async throws -> ServerResponse<Tessera_V1_ListServedModelsResponse> {
        do {
            let models = try await engine.servedModels()
            return ServerResponse(message: .with { $0.models = models })
        } catch let error as GatewayError {
            throw error.rpcError
        }
    }

    /// Prepares before answering (so bad requests get their status at once), then streams one
    /// message per token; the last carries finish_reason and usage.
    private func stream(
        api: String, model: String, prompt: PromptInput, sampling: Tessera_V1_SamplingParams, topLogits: UInt32,
        requestID: String
    ) async throws -> StreamingServerResponse<Tessera_V1_GenerateResponse> {
        let session: GenerationSession
        do {
            session = try await engine.prepare(model: model, prompt: prompt, sampling: sampling, topLogits: topLogits)
        } catch {
            let failure = Self.gatewayError(error)
            GatewayMetrics.request(api: api, outcome: "\(failure.kind)")
            throw failure.rpcError
        }
        return StreamingServerResponse { writer in
            do {
                _ = try await session.run { update in
                    try await writer.write(
                        .with {
                            $0.text = update.text
                            $0.tokenIds = [UInt32(bitPattern: update.tokenID)]
                            $0.topLogits = update.topLogits
                            $0.requestID = requestID
                            if let finish = update.finishReason {
                                $0.finishReason = finish
                                $0.usage = .with {
                                    $0.promptTokens = UInt32(session.prompt.count)
                                    $0.completionTokens = UInt32(update.completionTokens)
                                    $0.totalTokens = UInt32(session.prompt.count + update.completionTokens)
                                }
                            }
                        })
                }
                GatewayMetrics.request(api: api, outcome: "ok")
                return [:]
            } catch is CancellationError {
                GatewayMetrics.request(api: api, outcome: "cancelled")
                throw RPCError(code: .cancelled, message: "the request was cancelled")
            } catch {
                let failure = Self.gatewayError(error)
                GatewayMetrics.request(api: api, outcome: "\(failure.kind)")
                throw failure.rpcError
            }
        }
    }

    static func gatewayError(_ error: any Error) -> GatewayError {
        switch error {
        case let error as GatewayError: error
        case let error as RPCError: GatewayError(.internalError, "\(error.code): \(error.message)")
        default: GatewayError(.internalError, "\(error)")
        }
    }
}
