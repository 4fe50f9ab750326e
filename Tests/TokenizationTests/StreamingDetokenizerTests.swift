import Testing

@testable import Tokenization

@Suite struct StreamingDetokenizerTests {
    /// Emoji, flags, CJK and accents: byte-level BPE splits several of them across tokens.
    @Test func multiByteCharactersAreEmittedWhole() throws {
        let tokenizer = try TestSupport.smolLMTokenizer()
        let text = "héllo 😀 世界 🇺🇸 👩‍👩‍👧 ok"
        let ids = tokenizer.encode(text)
        var stream = StreamingDetokenizer(tokenizer: tokenizer)
        var output = ""
        var heldBack = 0
        for id in ids {
            let chunk = try stream.append(id)
            #expect(
                !chunk.unicodeScalars.contains("\u{FFFD}"),
                "chunk \(chunk.debugDescription) has a replacement character")
            if stream.pendingByteCount > 0 { heldBack += 1 }
            output += chunk
        }
        output += stream.finish()
        #expect(output == text)
        #expect(heldBack > 0, "expected at least one character split across tokens")
    }

    @Test func specialTokensRenderOnlyWhenAsked() throws {
        let tokenizer = try TestSupport.smolLMTokenizer()
        let ids = tokenizer.encode("<|im_start|>assistant\nHi<|im_end|>", parseSpecial: true)
        var hidden = StreamingDetokenizer(tokenizer: tokenizer)
        var shown = StreamingDetokenizer(tokenizer: tokenizer, renderSpecial: true)
        var (a, b) = ("", "")
        for id in ids {
            a += try hidden.append(id)
            b += try shown.append(id)
        }
        #expect(a == "assistant\nHi")
        #expect(b == "<|im_start|>assistant\nHi<|im_end|>")
    }

    @Test func completePrefixRules() {
        let emoji: [UInt8] = [0xF0, 0x9F, 0x98, 0x80]
        #expect(StreamingDetokenizer.completePrefixLength(Array(emoji.prefix(1))) == 0)
        #expect(StreamingDetokenizer.completePrefixLength([0x41] + emoji.prefix(3)) == 1)
        #expect(StreamingDetokenizer.completePrefixLength([0x41] + emoji) == 5)
        // Bytes that can never become a character are released at once (as U+FFFD).
        #expect(StreamingDetokenizer.completePrefixLength([0x80]) == 1)
        #expect(StreamingDetokenizer.completePrefixLength([0xC0]) == 1)  // overlong lead
        #expect(StreamingDetokenizer.completePrefixLength([0xED, 0xA0]) == 2)  // surrogate
        #expect(StreamingDetokenizer.completePrefixLength([0xE4, 0xB8]) == 0)  // start of 世
    }

    @Test func finishReleasesAnUnfinishedCharacter() throws {
        let tokenizer = try TestSupport.smolLMTokenizer()
        // The first token of an emoji alone: held back, then flushed as U+FFFD on finish.
        let ids = tokenizer.encode("😀")
        guard ids.count > 1 else { return }
        var stream = StreamingDetokenizer(tokenizer: tokenizer)
        #expect(try stream.append(ids[0]) == "")
        #expect(stream.finish() == "\u{FFFD}")
    }
}
