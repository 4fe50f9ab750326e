import Foundation
import Testing
import Tokenization

/// Tests/Reference/chat_templates.json: strings produced by llama.cpp's built-in template
/// code for each named format, plus SmolLM2's own Jinja template rendered by llama-cpp-python.
@Suite struct ChatTemplateReferenceTests {
    struct Case: Decodable {
        struct Message: Decodable {
            let role: String
            let content: String
        }
        let template: String
        let messages: [Message]
        let add_generation_prompt: Bool
        let text: String
    }

    static func cases() throws -> [Case] {
        let url = TestSupport.referenceDirectory.appendingPathComponent("chat_templates.json")
        return try JSONDecoder().decode([Case].self, from: Data(contentsOf: url))
    }

    @Test func namedFormatsMatchLlamaCpp() throws {
        let cases = try Self.cases().filter { !$0.template.hasSuffix(":jinja") }
        #expect(cases.count >= 30)
        for testCase in cases {
            let template = try #require(
                ChatTemplate(rawValue: testCase.template), "unknown template \(testCase.template)")
            let messages = testCase.messages.map { ChatMessage(role: $0.role, content: $0.content) }
            #expect(
                template.render(messages, addGenerationPrompt: testCase.add_generation_prompt)
                    == testCase.text)
        }
    }

    /// SmolLM2's Jinja adds a default system prompt, which Tessera reads out of the template.
    @Test func smolLMJinjaMatchesLlamaCppPython() throws {
        let cases = try Self.cases().filter { $0.template == "smollm2-135m:jinja" }
        #expect(!cases.isEmpty)
        let jinja = try #require(try TestSupport.smolLMTokenizer().chatTemplateSource)
        let template = try ChatTemplate.detect(jinja: jinja)
        let defaultPrompt = ChatTemplate.defaultSystemPrompt(inJinja: jinja)
        #expect(
            defaultPrompt == "You are a helpful AI assistant named SmolLM, trained by Hugging Face")
        for testCase in cases {
            let messages = testCase.messages.map { ChatMessage(role: $0.role, content: $0.content) }
            let text = template.render(
                messages, addGenerationPrompt: testCase.add_generation_prompt,
                defaultSystemPrompt: defaultPrompt)
            #expect(text == testCase.text)
        }
    }
}
