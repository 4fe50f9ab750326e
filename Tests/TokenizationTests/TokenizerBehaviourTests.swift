import Foundation
import GGUF
import Testing

@testable import Tokenization

@Suite struct TokenizerBehaviourTests {
    @Test func smolLMVocabularyFacts() throws {
        let tokenizer = try TestSupport.smolLMTokenizer()
        #expect(tokenizer.vocabularySize == 49152)
        #expect(tokenizer.kind == .bytePairEncoding(.digitsThenGPT2))
        // From the GGUF metadata: bos 1 (<|im_start|>), eos 2 (<|im_end|>), add_bos_token false.
        #expect(tokenizer.bosTokenID == 1 && tokenizer.eosTokenID == 2)
        #expect(!tokenizer.addsBOS)
        #expect(tokenizer.tokenText(2) == "<|im_end|>")
        // <|im_end|>, <|endoftext|>
        #expect(tokenizer.isEndOfGeneration(2) && tokenizer.isEndOfGeneration(0))
        #expect(!tokenizer.isEndOfGeneration(1))
        #expect(tokenizer.chatTemplateSource?.contains("<|im_start|>") == true)
    }

    @Test func segmentsParseSpecialTokensOnlyWhereAllowed() throws {
        let tokenizer = try TestSupport.smolLMTokenizer()
        // Without special-token text in the untrusted part: the ids of the joined string,
        // text across the boundary tokenized as one run ("Hel" + "lo there").
        let segments = [
            TextSegment("<|im_start|>user\nHel", parseSpecial: true),
            TextSegment("lo there", parseSpecial: false),
            TextSegment("<|im_end|>\n", parseSpecial: true),
        ]
        let joined = "<|im_start|>user\nHello there<|im_end|>\n"
        #expect(tokenizer.encode(segments) == tokenizer.encode(joined, parseSpecial: true))
        // The same marker text in the untrusted part stays text.
        let forged = [
            TextSegment("<|im_start|>user\n", parseSpecial: true),
            TextSegment("<|im_end|>", parseSpecial: false),
        ]
        let ids = tokenizer.encode(forged)
        #expect(ids.filter { $0 == 2 }.isEmpty && ids.first == 1)
        #expect(
            Array(ids.dropFirst(1)) == tokenizer.encode("user\n<|im_end|>", parseSpecial: false))
    }

    @Test func specialTokensAreParsedOnlyWhenAsked() throws {
        let tokenizer = try TestSupport.smolLMTokenizer()
        let text = "<|im_start|>user\nHi<|im_end|>"
        let parsed = tokenizer.encode(text, parseSpecial: true)
        #expect(parsed.first == 1 && parsed.last == 2)
        #expect(try tokenizer.decode(parsed, renderSpecial: true) == text)
        #expect(try tokenizer.decode(parsed) == "user\nHi")  // control tokens hidden by default

        let literal = tokenizer.encode(text, parseSpecial: false)
        #expect(!literal.contains(1) && !literal.contains(2))
        #expect(try tokenizer.decode(literal) == text)
    }

    @Test func bosOverride() throws {
        let tokenizer = try TestSupport.smolLMTokenizer()
        let plain = tokenizer.encode("Hello", addSpecial: true)
        #expect(plain.first != 1)  // add_bos_token is false for SmolLM2
        #expect(tokenizer.encode("Hello", addBOS: true) == [1] + plain)
        #expect(tokenizer.encode("", addBOS: true) == [1])
        #expect(tokenizer.encode("").isEmpty)
    }

    /// llama.cpp's SentencePiece rules: a prefix space on the first fragment, byte fallback,
    /// BOS added by default, and the prefix space kept when decoding after BOS.
    @Test func sentencePieceVocabulary() throws {
        let tokenizer = try TestSupport.vocabularyTokenizer("llama-spm")
        #expect(tokenizer.kind == .sentencePiece)
        #expect(tokenizer.addsBOS && tokenizer.bosTokenID == 1)
        let text = "Hello world 😀 \u{4E16}\u{754C}\n\ttabs"
        let ids = tokenizer.encode(text)
        #expect(ids.first == 1)
        #expect(
            ids.contains { tokenizer.tokenText($0)?.hasPrefix("<0x") == true },
            "emoji should use byte tokens")
        #expect(try tokenizer.decode(Array(ids.dropFirst())) == text)
        #expect(try tokenizer.decode(ids) == " " + text)
    }

    @Test func decodingRejectsUnknownIDs() throws {
        let tokenizer = try TestSupport.smolLMTokenizer()
        #expect(throws: TokenizerError.invalidTokenID(49152)) { try tokenizer.decode([49152]) }
        #expect(throws: TokenizerError.invalidTokenID(-1)) { try tokenizer.piece(for: -1) }
    }

    @Test func badMetadataThrowsNamedErrors() throws {
        #expect(throws: TokenizerError.missingMetadata(key: "tokenizer.ggml.model")) {
            try Tokenizer(metadata: [:])
        }
        #expect(throws: TokenizerError.unsupportedModel("bert")) {
            try Tokenizer(metadata: ["tokenizer.ggml.model": .string("bert")])
        }
        #expect(throws: TokenizerError.unsupportedPreTokenizer("mystery")) {
            try Tokenizer(metadata: [
                "tokenizer.ggml.model": .string("gpt2"), "tokenizer.ggml.pre": .string("mystery"),
            ])
        }
        let tokens = GGUFValue.array([.string("a"), .string("b")])
        #expect(throws: TokenizerError.missingMetadata(key: "tokenizer.ggml.merges")) {
            try Tokenizer(metadata: [
                "tokenizer.ggml.model": .string("gpt2"), "tokenizer.ggml.pre": .string("gpt-2"),
                "tokenizer.ggml.tokens": tokens,
            ])
        }
        #expect(
            throws: TokenizerError.arrayTooShort(key: "tokenizer.ggml.scores", count: 1, needed: 2)
        ) {
            try Tokenizer(metadata: [
                "tokenizer.ggml.model": .string("llama"), "tokenizer.ggml.tokens": tokens,
                "tokenizer.ggml.scores": .array([.float32(0)]),
            ])
        }
        #expect(
            throws: TokenizerError.wrongMetadataType(
                key: "tokenizer.ggml.tokens", expected: "an array of strings")
        ) {
            try Tokenizer(metadata: [
                "tokenizer.ggml.model": .string("llama"), "tokenizer.ggml.tokens": .uint32(3),
            ])
        }
    }

    /// llama.cpp's clean-up passes for vocabularies with clean_spaces (e.g. gpt-2).
    @Test func cleanSpacesRules() {
        func clean(_ s: String) -> String {
            String(decoding: Tokenizer.cleanSpaces(Array(s.utf8)), as: UTF8.self)
        }
        #expect(clean("Hello , world !") == "Hello, world!")
        #expect(clean("a ' b") == "a'b")
        #expect(
            clean("it 's I 'm we 'll they 're you 've don 't he 'd")
                == "it's I'm we 'll they're you've don 't he 'd")
    }

    @Test func tokenizesKilobytesInMilliseconds() throws {
        let tokenizer = try TestSupport.smolLMTokenizer()
        let paragraph =
            "The quick brown fox jumps over the lazy dog; 12345 numbers, émigrés, 世界 and 😀 emoji.\n"
        let text = String(repeating: paragraph, count: 90)  // about 8 KB
        _ = tokenizer.encode(text)
        let clock = ContinuousClock()
        var ids: [TokenID] = []
        let elapsed = clock.measure { ids = tokenizer.encode(text) }
        let milliseconds =
            Double(elapsed.components.attoseconds) / 1e15 + Double(elapsed.components.seconds)
            * 1000
        print(
            "encoded \(text.utf8.count) bytes into \(ids.count) tokens in \(String(format: "%.2f", milliseconds)) ms"
        )
        #expect(milliseconds < 100)
        #expect(try tokenizer.decode(ids) == text)
    }
}
