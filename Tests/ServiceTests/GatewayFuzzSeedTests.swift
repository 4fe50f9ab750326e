import Foundation
import Inference
import TesseraProto
import Testing

@testable import Gateway

/// The OpenAI fuzz target's seeds (Fuzz/seeds/openai-request, used by scripts/fuzz) are
/// requests the gateway accepts and can prepare, so fuzzing starts from bodies that reach
/// the sampling checks and the JSON-schema compiler rather than stopping at a refusal. A
/// change to the API that made a seed invalid fails here, not silently in the fuzzer.
@Suite struct GatewayFuzzSeedTests {
    static let seeds = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fuzz/seeds/openai-request")

    @Test func everySeedIsAnAcceptedRequest() throws {
        let names = try FileManager.default.contentsOfDirectory(atPath: Self.seeds.path)
            .filter { $0.hasSuffix(".json") }.sorted()
        #expect(names.count >= 4)
        for name in names {
            let endpoint: OpenAIRequest.Endpoint = name.hasPrefix("chat") ? .chat : .completion
            let body = try Data(contentsOf: Self.seeds.appendingPathComponent(name))
            let request = try OpenAIRequest(body: body, endpoint: endpoint)
            let parameters = try request.sampling.parameters(defaultMaxTokens: 256)
            try parameters.validate(vocabularySize: 49_152)
        }
    }
}
