import Foundation
import Inference
import TesseraProto
import Testing
import Tokenization

@testable import Gateway

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// The OpenAI-compatible HTTP API of the gateway in the in-process cluster: answers equal
/// local generation, streams are well-formed server-sent events, errors have OpenAI's shape.
@Suite(.serialized, .timeLimit(.minutes(10)))
struct GatewayHTTPTests {
    static let question = "What is the capital of France?"

    func post(_ path: String, _ body: Data, cluster: GatewayTestCluster) async throws -> (Int, Data)
    {
        var request = URLRequest(url: URL(string: "http://\(cluster.http)\(path)")!)
        request.httpMethod = "POST"
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        request.httpBody = body
        request.timeoutInterval = 300
        let (data, response) = try await URLSession.shared.data(for: request)
        return ((response as! HTTPURLResponse).statusCode, data)
    }

    func post(_ path: String, json: [String: Any], cluster: GatewayTestCluster) async throws -> (
        Int, [String: Any]
    ) {
        let (status, data) = try await post(
            path, try JSONSerialization.data(withJSONObject: json), cluster: cluster)
        return (status, try JSONSerialization.jsonObject(with: data) as? [String: Any] ?? [:])
    }

    func localChat(maxTokens: Int) throws -> String {
        let reference = LocalReference.shared
        var parameters = SamplingParameters.greedy
        parameters.maxTokens = maxTokens
        return try reference.generate(
            try reference.chatPrompt([ChatMessage(role: "user", content: Self.question)]),
            parameters
        ).text
    }

    @Test func chatCompletionEqualsLocalGeneration() async throws {
        let cluster = try await GatewayTestCluster.shared()
        let (status, body) = try await post(
            "/v1/chat/completions",
            json: [
                "model": "smollm2-135m", "messages": [["role": "user", "content": Self.question]],
                "max_tokens": 30,
                "temperature": 0,
            ], cluster: cluster)
        #expect(status == 200)
        #expect(body["object"] as? String == "chat.completion")
        #expect(body["model"] as? String == "smollm2-135m")
        let choice = try #require((body["choices"] as? [[String: Any]])?.first)
        let message = try #require(choice["message"] as? [String: Any])
        #expect(message["role"] as? String == "assistant")
        #expect(message["content"] as? String == (try localChat(maxTokens: 30)))
        let usage = try #require(body["usage"] as? [String: Any])
        #expect((usage["completion_tokens"] as? Int ?? 0) <= 30)
        #expect(
            usage["total_tokens"] as? Int == (usage["prompt_tokens"] as? Int ?? 0)
                + (usage["completion_tokens"] as? Int ?? 0))
    }

    @Test func streamedChatIsServerSentEventsEqualToLocalGeneration() async throws {
        let cluster = try await GatewayTestCluster.shared()
        let request: [String: Any] = [
            "messages": [["role": "user", "content": Self.question]], "max_tokens": 30,
            "temperature": 0, "stream": true,
            "stream_options": ["include_usage": true],
        ]
        let (status, data) = try await post(
            "/v1/chat/completions", try JSONSerialization.data(withJSONObject: request),
            cluster: cluster)
        #expect(status == 200)
        let events = String(decoding: data, as: UTF8.self).components(separatedBy: "\n\n").filter {
            !$0.isEmpty
        }
        #expect(events.allSatisfy { $0.hasPrefix("data: ") })
        #expect(events.last == "data: [DONE]")
        let chunks = try events.dropLast().map {
            try JSONSerialization.jsonObject(with: Data($0.dropFirst(6).utf8)) as! [String: Any]
        }
        #expect(chunks.allSatisfy { $0["object"] as? String == "chat.completion.chunk" })
        #expect(Set(chunks.compactMap { $0["id"] as? String }).count == 1)
        let choices = chunks.compactMap { ($0["choices"] as? [[String: Any]])?.first }
        let deltas = choices.compactMap { $0["delta"] as? [String: Any] }
        #expect(deltas.first?["role"] as? String == "assistant")
        #expect(
            deltas.compactMap { $0["content"] as? String }.joined()
                == (try localChat(maxTokens: 30)))
        #expect(choices.last?["finish_reason"] as? String != nil)
        #expect(choices.dropLast().allSatisfy { $0["finish_reason"] is NSNull })
        let usage = try #require(chunks.last?["usage"] as? [String: Any])
        #expect((usage["completion_tokens"] as? Int ?? 0) > 0)
    }

    @Test func completionsAndModels() async throws {
        let cluster = try await GatewayTestCluster.shared()
        let (status, body) = try await post(
            "/v1/completions",
            json: [
                "prompt": "The three primary colors are", "max_tokens": 8, "temperature": 0,
                "ignore_eos": true,
            ],
            cluster: cluster)
        #expect(status == 200)
        #expect(body["object"] as? String == "text_completion")
        let choice = try #require((body["choices"] as? [[String: Any]])?.first)
        #expect(choice["finish_reason"] as? String == "length")
        #expect((body["usage"] as? [String: Any])?["completion_tokens"] as? Int == 8)

        let (data, response) = try await URLSession.shared.data(
            from: URL(string: "http://\(cluster.http)/v1/models")!)
        #expect((response as! HTTPURLResponse).statusCode == 200)
        let models = try JSONSerialization.jsonObject(with: data) as! [String: Any]
        #expect(models["object"] as? String == "list")
        let first = try #require((models["data"] as? [[String: Any]])?.first)
        #expect(first["id"] as? String == "smollm2-135m")
        #expect(first["object"] as? String == "model")
        #expect(first["ready"] as? Bool == true)
    }

    @Test func badRequestsGetOpenAIErrors() async throws {
        let cluster = try await GatewayTestCluster.shared()
        func check(
            _ body: Data, status expected: Int, code: String? = nil, param: String? = nil,
            path: String = "/v1/chat/completions"
        )
            async throws
        {
            let (status, data) = try await post(path, body, cluster: cluster)
            #expect(status == expected, "\(String(decoding: body, as: UTF8.self))")
            let object = try JSONSerialization.jsonObject(with: data) as? [String: Any]
            let error = try #require(object?["error"] as? [String: Any])
            #expect(Set(error.keys) == ["message", "type", "param", "code"])
            #expect(!((error["message"] as? String) ?? "").isEmpty)
            if let code { #expect(error["code"] as? String == code) }
            if let param { #expect(error["param"] as? String == param) }
        }
        func json(_ object: [String: Any]) throws -> Data {
            try JSONSerialization.data(withJSONObject: object)
        }
        let hi: [[String: Any]] = [["role": "user", "content": "hi"]]

        try await check(Data("{not json".utf8), status: 400)
        try await check(
            // {"m":"\xff\xfe"}
            Data([0x7B, 0x22, 0x6D, 0x22, 0x3A, 0x22, 0xFF, 0xFE, 0x22, 0x7D]), status: 400)
        try await check(Data("[1, 2]".utf8), status: 400)
        try await check(try json(["messages": []]), status: 400, param: "messages")
        try await check(
            try json(["messages": [["role": "user", "content": 5]]]), status: 400, param: "messages"
        )
        try await check(
            try json(["messages": hi, "temperature": -1]), status: 400, param: "temperature")
        try await check(
            try json(["messages": hi, "temperature": "hot"]), status: 400, param: "temperature")
        try await check(
            try json(["messages": hi, "max_tokens": 0]), status: 400, param: "max_tokens")
        try await check(
            try json(["messages": hi, "max_tokens": 1.5]), status: 400, param: "max_tokens")
        try await check(try json(["messages": hi, "stream": 1]), status: 400, param: "stream")
        try await check(try json(["messages": hi, "stop": [1]]), status: 400, param: "stop")
        try await check(try json(["messages": hi, "n": 0]), status: 400, param: "n")
        try await check(try json(["messages": hi, "n": 17]), status: 400, param: "n")
        try await check(
            try json(["messages": hi, "model": "no-such-model"]), status: 404,
            code: "model_not_found")
        try await check(
            try json([
                "messages": [["role": "user", "content": String(repeating: "hello ", count: 9000)]]
            ]), status: 400,
            code: "context_length_exceeded")
        try await check(
            try json(["prompt": 5]), status: 400, param: "prompt", path: "/v1/completions")
        try await check(Data(count: 9 << 20), status: 413)
    }
}
