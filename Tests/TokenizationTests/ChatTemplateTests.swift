import Testing
import Tokenization

/// Expected strings follow llama.cpp's built-in formats (src/llama-chat.cpp,
/// `llm_chat_apply_template`), worked out by hand for this conversation. The assistant turn
/// is padded with spaces to show which formats trim contents (llama3, gemma, llama2-sys-strip).
@Suite struct ChatTemplateTests {
    let conversation = [
        ChatMessage(role: "system", content: "Be brief."),
        ChatMessage(role: "user", content: "Hi"),
        ChatMessage(role: "assistant", content: "  Hello!  "),
        ChatMessage(role: "user", content: "2+2?"),
    ]

    @Test func chatML() {
        #expect(
            ChatTemplate.chatML.render(conversation, addGenerationPrompt: true)
                == "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
                + "<|im_start|>assistant\n  Hello!  <|im_end|>\n<|im_start|>user\n2+2?<|im_end|>\n<|im_start|>assistant\n"
        )
        #expect(
            ChatTemplate.chatML.render(
                [ChatMessage(role: "user", content: "x")], addGenerationPrompt: false)
                == "<|im_start|>user\nx<|im_end|>\n")
    }

    @Test func llama2Variants() {
        #expect(
            ChatTemplate.llama2System.render(conversation, addGenerationPrompt: true)
                == "[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi [/INST]  Hello!  </s>[INST] 2+2? [/INST]"
        )
        #expect(
            ChatTemplate.llama2.render(conversation, addGenerationPrompt: true)
                == "[INST] Be brief.\nHi [/INST]  Hello!  </s>[INST] 2+2? [/INST]")
        #expect(
            ChatTemplate.llama2SystemBOS.render(conversation, addGenerationPrompt: true)
                == "[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi [/INST]  Hello!  </s><s>[INST] 2+2? [/INST]"
        )
        #expect(
            ChatTemplate.llama2SystemStrip.render(conversation, addGenerationPrompt: true)
                == "[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi [/INST]Hello!</s>[INST] 2+2? [/INST]")
    }

    @Test func llama3() {
        #expect(
            ChatTemplate.llama3.render(conversation, addGenerationPrompt: true)
                == "<|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
                + "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
                + "<|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|>"
                + "<|start_header_id|>user<|end_header_id|>\n\n2+2?<|eot_id|>"
                + "<|start_header_id|>assistant<|end_header_id|>\n\n")
    }

    @Test func gemma() {
        #expect(
            ChatTemplate.gemma.render(conversation, addGenerationPrompt: true)
                == "<start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n<start_of_turn>model\nHello!<end_of_turn>\n"
                + "<start_of_turn>user\n2+2?<end_of_turn>\n<start_of_turn>model\n")
    }

    @Test func zephyrAndPhi3() {
        #expect(
            ChatTemplate.zephyr.render(conversation, addGenerationPrompt: true)
                == "<|system|>\nBe brief.<|endoftext|>\n<|user|>\nHi<|endoftext|>\n<|assistant|>\n  Hello!  <|endoftext|>\n"
                + "<|user|>\n2+2?<|endoftext|>\n<|assistant|>\n")
        #expect(
            ChatTemplate.phi3.render(conversation, addGenerationPrompt: false)
                == "<|system|>\nBe brief.<|end|>\n<|user|>\nHi<|end|>\n<|assistant|>\n  Hello!  <|end|>\n<|user|>\n2+2?<|end|>\n"
        )
    }

    @Test func detectsFormatsFromJinjaMarkers() throws {
        let smolLM = try TestSupport.smolLMTokenizer()
        #expect(try ChatTemplate.detect(jinja: #require(smolLM.chatTemplateSource)) == .chatML)
        let llama3 =
            "{% for message in messages %}{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' }}{% endfor %}"
        #expect(try ChatTemplate.detect(jinja: llama3) == .llama3)
        #expect(try ChatTemplate.detect(jinja: "{{ '<start_of_turn>' + role + '\\n' }}") == .gemma)
        #expect(
            try ChatTemplate.detect(jinja: "{{ '[INST] <<SYS>>\\n' + system + '\\n<</SYS>>' }}")
                == .llama2System)
        #expect(
            try ChatTemplate.detect(jinja: "{{ bos_token + '[INST] ' + content.strip() }}")
                == .llama2SystemStrip)
        #expect(try ChatTemplate.detect(jinja: "{{ '[INST] ' + content + ' [/INST]' }}") == .llama2)
        #expect(
            try ChatTemplate.detect(jinja: "{{ '<|user|>\\n' + content + '<|endoftext|>' }}")
                == .zephyr)
        #expect(
            try ChatTemplate.detect(jinja: "{{ '<|user|>' + c + '<|end|>\\n<|assistant|>\\n' }}")
                == .phi3)
        #expect(try ChatTemplate.detect(jinja: "llama3") == .llama3)
        #expect(
            try ChatTemplate.detect(
                jinja: "{{ '[SYSTEM_PROMPT]' + system + '[/SYSTEM_PROMPT]' }}[INST]") == .mistralV7)
    }

    @Test func unknownTemplatesThrowUnlessFallbackIsRequested() throws {
        let odd = "{{ messages | join('|') }}"
        #expect(throws: ChatTemplateError.unknownTemplate(excerpt: odd)) {
            try ChatTemplate.detect(jinja: odd)
        }
        #expect(try ChatTemplate.resolve(jinja: odd, fallbackToChatML: true) == .chatML)
        #expect(throws: ChatTemplateError.missingTemplate) { try ChatTemplate.resolve(jinja: nil) }
        #expect(try ChatTemplate.resolve(jinja: nil, fallbackToChatML: true) == .chatML)
        #expect(throws: ChatTemplateError.unsupportedTemplate(name: "phi4")) {
            try ChatTemplate.detect(jinja: "<|im_start|>{{ role }}<|im_sep|>")
        }
    }

    /// The rendered prompt tokenizes into the model's control tokens when special tokens are parsed.
    @Test func renderedPromptUsesControlTokens() throws {
        let tokenizer = try TestSupport.smolLMTokenizer()
        let template = try ChatTemplate.resolve(jinja: tokenizer.chatTemplateSource)
        let prompt = template.render(
            [ChatMessage(role: "user", content: "Hi")], addGenerationPrompt: true)
        let ids = tokenizer.encode(prompt, parseSpecial: true)
        #expect(ids.filter { $0 == 1 }.count == 2)  // <|im_start|> twice
        #expect(ids.filter { $0 == 2 }.count == 1)  // <|im_end|> once
    }
}
