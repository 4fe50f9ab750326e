import Testing

@testable import Tokenization

/// Word splits derived by hand from the pre-tokenizer regexes llama.cpp uses (quoted in
/// PreTokenizer.swift), including the lookahead and first-alternative-wins subtleties.
@Suite struct PreTokenizerTests {
    private func words(_ text: String, _ preTokenizer: PreTokenizer) -> [String] {
        let scalars = Array(text.unicodeScalars)
        var start = 0
        return preTokenizer.wordEnds(scalars.map(\.value)).map { end in
            defer { start = end }
            return String(String.UnicodeScalarView(scalars[start..<end]))
        }
    }

    @Test func gpt2() {
        // \s+(?!\S) leaves the last space of a run to lead the next word.
        #expect(words("Hello world  !!", .gpt2) == ["Hello", " world", " ", " !!"])
        #expect(words("I'm 42 years", .gpt2) == ["I", "'m", " 42", " years"])
        #expect(words("end   ", .gpt2) == ["end", "   "])
        #expect(words("caf\u{E9} \u{4E16}\u{754C}", .gpt2) == ["caf\u{E9}", " \u{4E16}\u{754C}"])
        // Contractions are case-sensitive here: 'S is punctuation then a letter.
        #expect(words("IT'S", .gpt2) == ["IT", "'", "S"])
    }

    @Test func digitsFirstThenGPT2() {
        #expect(words("abc 123", .digitsThenGPT2) == ["abc", " ", "1", "2", "3"])
        #expect(words("x2y", .digitsThenGPT2) == ["x", "2", "y"])
        // Arabic-Indic digits are \p{N} too.
        #expect(words("\u{661}\u{662}", .digitsThenGPT2) == ["\u{661}", "\u{662}"])
    }

    @Test func llama3() {
        #expect(words("12345 abc's", .llama3) == ["123", "45", " abc", "'s"])
        #expect(words("IT'S", .llama3) == ["IT", "'S"])
        #expect(words("a\n\n b", .llama3) == ["a", "\n\n", " b"])
        #expect(words("(hello)", .llama3) == ["(hello", ")"])
        #expect(words("x  \n  y", .llama3) == ["x", "  \n", " ", " y"])
        #expect(words("ok!!\n\nnext", .llama3) == ["ok", "!!\n\n", "next"])
    }

    @Test func qwen2() {
        #expect(words("12345", .qwen2) == ["1", "2", "3", "4", "5"])
        #expect(words(" 2024-06", .qwen2) == [" ", "2", "0", "2", "4", "-", "0", "6"])
    }

    @Test func unicodeClassesMatchLlamaCppTable() {
        #expect(UnicodeClassifier.flags(0x41).isLetter)
        #expect(UnicodeClassifier.flags(0x0661).isNumber)
        #expect(UnicodeClassifier.flags(0x3000).isWhitespace)
        #expect(UnicodeClassifier.flags(0x1F600).contains(.symbol))
        #expect(UnicodeClassifier.flags(0x0301).contains(.mark))
        // Unicode 15.1: U+2FFC is assigned (So), U+1C89 is not yet (Unicode 16).
        #expect(UnicodeClassifier.flags(0x2FFC).contains(.symbol))
        #expect(UnicodeClassifier.flags(0x1C89) == .undefined)
    }
}
