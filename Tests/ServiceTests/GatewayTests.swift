import Foundation
import GRPCCore
import Inference
import ServiceKit
import TesseraProto
import Testing
import Tokenization

/// Generation through a real in-process cluster (cache-manager with the real model,
/// scheduler, two workers, gateway) over gRPC, compared with local generation on this
/// machine (what `tessera run` prints).
@Suite(.serialized, .timeLimit(.minutes(10)))
struct GatewayTests {
    static let question = "What is the capital of France?"
    static let text = "The three primary colors are"

    static func greedy(maxTokens: Int, stop: [String] = []) -> Tessera_V1_SamplingParams {
        .with {
            $0.temperature = 0
            $0.maxTokens = UInt32(maxTokens)
            $0.stop = stop
        }
    }

    static func localGreedy(maxTokens: Int, stop: [String] = []) -> SamplingParameters {
        var parameters = SamplingParameters.greedy
        parameters.maxTokens = maxTokens
        parameters.stopStrings = stop
        return parameters
    }

    static func ids(_ messages: [Tessera_V1_GenerateResponse]) -> [Int32] {
        messages.flatMap { $0.tokenIds.map { Int32(bitPattern: $0) } }
    }

    static func text(_ messages: [Tessera_V1_GenerateResponse]) -> String {
        messages.map(\.text).joined()
    }

    @Test func greedyChatEqualsLocalGeneration() async throws {
        let cluster = try await GatewayTestCluster.shared()
        let reference = LocalReference.shared
        let expected = try reference.generate(
            try reference.chatPrompt([ChatMessage(role: "user", content: Self.question)]),
            Self.localGreedy(maxTokens: 40))
        let messages = try await cluster.chat(
            .with {
                $0.messages = [
                    .with {
                        $0.role = "user"
                        $0.content = Self.question
                    }
                ]
                $0.sampling = Self.greedy(maxTokens: 40)
                $0.requestID = "chat-1"
            })
        #expect(Self.ids(messages) == expected.ids)
        #expect(Self.text(messages) == expected.text)
        #expect(messages.count == expected.ids.count)  // one message per token
        let last = try #require(messages.last)
        #expect(last.finishReason != .unspecified)
        #expect(messages.dropLast().allSatisfy { $0.finishReason == .unspecified && !$0.hasUsage })
        #expect(last.usage.completionTokens == UInt32(expected.ids.count))
        #expect(
            last.usage.promptTokens
                == UInt32(
                    try reference.chatPrompt([ChatMessage(role: "user", content: Self.question)])
                        .count))
        #expect(messages.allSatisfy { $0.requestID == "chat-1" })
    }

    @Test func greedyPromptEqualsLocalGeneration() async throws {
        let cluster = try await GatewayTestCluster.shared()
        let reference = LocalReference.shared
        let expected = try reference.generate(
            reference.textPrompt(Self.text), Self.localGreedy(maxTokens: 24))
        let messages = try await cluster.generate(
            .with {
                $0.prompt = Self.text
                $0.sampling = Self.greedy(maxTokens: 24)
                $0.topLogits = 3
            })
        #expect(Self.ids(messages) == expected.ids)
        #expect(Self.text(messages) == expected.text)
        #expect(
            messages.allSatisfy {
                $0.topLogits.count == 3 && $0.topLogits[0].tokenID == $0.tokenIds[0]
            })
        #expect(messages.last?.finishReason == .length)
        #expect(messages.last?.usage.completionTokens == 24)
    }

    @Test func seededSamplingIsReproducibleAndEqualsLocal() async throws {
        let cluster = try await GatewayTestCluster.shared()
        let reference = LocalReference.shared
        let sampling = Tessera_V1_SamplingParams.with {
            $0.temperature = 1.0
            $0.topK = 40
            $0.topP = 0.95
            $0.minP = 0.05
            $0.seed = 1234
            $0.maxTokens = 20
        }
        let request = Tessera_V1_GenerateRequest.with {
            $0.prompt = Self.text
            $0.sampling = sampling
        }
        let first = Self.ids(try await cluster.generate(request))
        let second = Self.ids(try await cluster.generate(request))
        #expect(first == second)
        let local = try reference.generate(
            reference.textPrompt(Self.text),
            SamplingParameters(
                temperature: 1.0, topK: 40, topP: 0.95, minP: 0.05, seed: 1234, maxTokens: 20))
        #expect(first == local.ids)
    }

    @Test func stopStringEndsTheTextBeforeIt() async throws {
        let cluster = try await GatewayTestCluster.shared()
        let reference = LocalReference.shared
        let full = try reference.generate(
            reference.textPrompt(Self.text), Self.localGreedy(maxTokens: 24)
        ).text
        // The second word of the reference output: the answer must end right before it.
        let words = full.split(separator: " ")
        try #require(words.count > 2)
        let stop = String(words[1])
        let messages = try await cluster.generate(
            .with {
                $0.prompt = Self.text
                $0.sampling = Self.greedy(maxTokens: 24, stop: [stop])
            })
        let expected = String(full[..<full.range(of: stop)!.lowerBound])
        #expect(Self.text(messages) == expected)
        #expect(messages.last?.finishReason == .stop)
        #expect(!messages.contains { $0.text.contains(stop) })
    }

    @Test func maxTokensLimitsTheAnswer() async throws {
        let cluster = try await GatewayTestCluster.shared()
        let messages = try await cluster.generate(
            .with {
                $0.prompt = Self.text
                $0.sampling = .with {
                    $0.maxTokens = 3
                    $0.ignoreEos = true
                }
            })
        #expect(messages.count == 3)
        #expect(messages.last?.finishReason == .length)
        #expect(messages.last?.usage.completionTokens == 3)
        #expect(messages.last?.usage.totalTokens == messages.last!.usage.promptTokens + 3)
    }

    @Test func badRequestsGetClearStatuses() async throws {
        let cluster = try await GatewayTestCluster.shared()
        func chatCode(_ body: (inout Tessera_V1_ChatRequest) -> Void) async -> (
            RPCError.Code?, String
        ) {
            var request = Tessera_V1_ChatRequest.with {
                $0.messages = [
                    .with {
                        $0.role = "user"
                        $0.content = "hi"
                    }
                ]
            }
            body(&request)
            do {
                _ = try await cluster.chat(request)
                return (nil, "")
            } catch let error as RPCError {
                return (error.code, error.message)
            } catch {
                return (.unknown, "\(error)")
            }
        }
        let empty = await chatCode { $0.messages = [] }
        #expect(empty.0 == .invalidArgument)
        #expect(empty.1.contains("messages"))
        #expect(await chatCode { $0.messages[0].role = "wizard" }.0 == .invalidArgument)
        #expect(await chatCode { $0.sampling.temperature = -1 }.0 == .invalidArgument)
        #expect(await chatCode { $0.sampling.temperature = .nan }.0 == .invalidArgument)
        #expect(await chatCode { $0.sampling.topP = 1.5 }.0 == .invalidArgument)
        #expect(await chatCode { $0.sampling.stop = [""] }.0 == .invalidArgument)
        let unknown = await chatCode { $0.model = "no-such-model" }
        #expect(unknown.0 == .notFound)
        let long = await chatCode {
            $0.messages[0].content = String(repeating: "hello ", count: 9000)
        }
        #expect(long.0 == .invalidArgument)
        #expect(long.1.contains("context"))
        // Within the model's 8192 tokens but beyond the 2048 the scheduler reserved KV for.
        let overReserve = await chatCode {
            $0.messages[0].content = String(repeating: "hello ", count: 3000)
        }
        #expect(overReserve.0 == .invalidArgument)
        #expect(overReserve.1.contains("2048"))
        // Still serving afterwards.
        let after = try await cluster.chat(
            .with {
                $0.messages = [
                    .with {
                        $0.role = "user"
                        $0.content = "hi"
                    }
                ]
                $0.sampling = Self.greedy(maxTokens: 2)
            })
        #expect(after.count <= 2 && !after.isEmpty)
    }

    @Test func listServedModelsSaysReady() async throws {
        let cluster = try await GatewayTestCluster.shared()
        let models = try await cluster.servedModels()
        #expect(models.map(\.name) == ["smollm2-135m"])
        #expect(models.first?.ready == true)
        // the model has 8192; the scheduler reserves 2048
        #expect(models.first?.contextLength == 2048)
        #expect(models.first?.model.sha256.count == 64)
    }

    @Test func cancelledStreamFreesTheWorkersSessions() async throws {
        let cluster = try await GatewayTestCluster.shared()
        let received = try await ServiceClient.with(cluster.grpc) { client in
            try await Tessera_V1_Gateway.Client(wrapping: client).generate(
                .with {
                    $0.prompt = Self.text
                    $0.sampling = .with {
                        $0.maxTokens = 200
                        $0.ignoreEos = true
                    }
                }
            ) { response in
                var count = 0
                for try await _ in response.messages {
                    count += 1
                    if count == 3 { break }  // leaving the handler cancels the RPC
                }
                return count
            }
        }
        #expect(received == 3)
        let idle = try await eventually(timeout: .seconds(60)) {
            var sessions = 0
            for worker in cluster.workers {
                sessions += Int(
                    try await ServiceClient.with(worker.addresses.grpc) { client in
                        try await Tessera_V1_InferenceWorker.Client(wrapping: client).getStatus(
                            .init()
                        ).load.activeSessions
                    })
            }
            return sessions == 0
        }
        #expect(idle)
    }
}
