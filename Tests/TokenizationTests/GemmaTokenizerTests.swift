import Foundation
import GGUF
import Testing
import Tokenization

/// Gemma 3's SentencePiece vocabulary (262,144 tokens, `tokenizer.ggml.model` = llama) from the
/// real 270M model. The id-for-id comparison with llama.cpp runs over every case of
/// Tests/Reference/tokenization/gemma3-270m.json in `ReferenceTokenizationTests`; these tests
/// pin the behaviour around it: BOS, special-token parsing, end of generation, chat template.
@Suite struct GemmaTokenizerTests {
    static let gemma: Result<Tokenizer, Error> = Result {
        let path = ModelLocator.path(forName: "gemma3-270m")
        guard FileManager.default.fileExists(atPath: path) else {
            throw TestSupport.Missing(
                description: "model not found at \(path): run scripts/fetch-model gemma3-270m")
        }
        return try Tokenizer(path: path)
    }

    @Test func referenceCoversBOSAndSpecialCases() throws {
        let file = try #require(
            try TokenizationReference.all().first { $0.reference.vocab == "gemma3-270m" },
            "no gemma3-270m tokenization reference")
        let cases = file.reference.cases
        #expect(cases.count >= 100)
        #expect(cases.contains { $0.add_bos && $0.ids.first == 2 })
        #expect(cases.contains { $0.special && $0.ids.contains(105) })
    }

    /// `tokenizer.ggml.add_bos_token` is true: llama_tokenize(add_special=true) starts with
    /// <bos> (2); special-token text stays characters unless parsing is asked for.
    @Test func bosAndSpecialHandlingFollowLlamaCpp() throws {
        let tokenizer = try Self.gemma.get()
        #expect(tokenizer.kind == .sentencePiece)
        #expect(tokenizer.vocabularySize == 262_144)
        #expect(tokenizer.addsBOS && !tokenizer.addsEOS)
        // Ids from llama-cpp-python 0.3.36: Llama(vocab_only=True).tokenize(...)
        #expect(
            tokenizer.encode("Hello world, how are you?")
                == [2, 9259, 1902, 236764, 1217, 659, 611, 236881])
        #expect(
            tokenizer.encode("<start_of_turn>user\nhi")
                == [2, 236820, 3041, 236779, 1340, 236779, 887, 236813, 2364, 107, 2202])
        #expect(
            tokenizer.encode("<start_of_turn>user\nhi", parseSpecial: true) == [
                2, 105, 2364, 107, 2202,
            ])
        #expect(tokenizer.encode("hi", addSpecial: false) == [2202])
    }

    /// llama_vocab_is_eog over the whole vocabulary: <eos>, <end_of_turn>, </s>.
    @Test func endOfGenerationTokensMatchLlamaCpp() throws {
        let tokenizer = try Self.gemma.get()
        #expect(tokenizer.endOfGenerationTokenIDs == [1, 106, 212])
    }

    /// The file declares no chat template, so it gets Gemma's turn format, and says so.
    @Test func missingTemplateGetsTheFamilyFormat() throws {
        let tokenizer = try Self.gemma.get()
        #expect(tokenizer.chatTemplateSource == nil)
        let choice = tokenizer.chatTemplateChoice
        #expect(choice.template == .gemma)
        #expect(choice.origin == .familyDefault(architecture: "gemma3"))
        #expect(choice.summary.contains("gemma") && choice.summary.contains("declares none"))
        let text = choice.template.render(
            [ChatMessage(role: "user", content: "Hi")], addGenerationPrompt: true)
        #expect(text == "<start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\n")
        #expect(
            tokenizer.encode(text, parseSpecial: true) == [
                2, 105, 2364, 107, 10979, 106, 107, 105, 4368, 107,
            ])
    }
}

/// Template choice by family for files without a template, and declared ones first.
@Suite struct ChatTemplateChoiceTests {
    @Test func familyDefaults() {
        let none: (String) -> Bool = { _ in false }
        let llama3Vocabulary: (String) -> Bool = {
            ["<|start_header_id|>", "<|eot_id|>"].contains($0)
        }
        #expect(ChatTemplate.familyDefault(architecture: "gemma3", hasToken: none) == .gemma)
        #expect(ChatTemplate.familyDefault(architecture: "qwen2", hasToken: none) == .chatML)
        #expect(ChatTemplate.familyDefault(architecture: "qwen3", hasToken: none) == .chatML)
        #expect(ChatTemplate.familyDefault(architecture: "phi3", hasToken: none) == .phi3)
        #expect(
            ChatTemplate.familyDefault(architecture: "llama", hasToken: llama3Vocabulary) == .llama3
        )
        #expect(ChatTemplate.familyDefault(architecture: "llama", hasToken: none) == nil)
        let fallback = ChatTemplateChoice.choose(jinja: nil, architecture: "llama", hasToken: none)
        #expect(fallback.template == .chatML)
        #expect(fallback.summary.hasPrefix("chat template chatml (fallback"))
    }

    /// A declared template wins over the family's, Llama 3's Jinja included.
    @Test func declaredTemplateWins() throws {
        let llama3Jinja =
            "{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + message['content'] | trim + '<|eot_id|>' }}"
        let choice = ChatTemplateChoice.choose(
            jinja: llama3Jinja, architecture: "gemma3", hasToken: { _ in false })
        #expect(choice.template == .llama3 && choice.origin == .declared)
        let smolLM = try TestSupport.smolLMTokenizer().chatTemplateChoice
        #expect(smolLM.template == .chatML && smolLM.origin == .declared)
        #expect(smolLM.defaultSystemPrompt != nil)
    }
}
