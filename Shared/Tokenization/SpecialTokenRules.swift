/// llama.cpp's text-based fix-ups of special tokens: GGUF files do not always mark
/// end-of-turn or fill-in-the-middle tokens, so they are recognised by their text, forced to
/// be control tokens, and collected into the end-of-generation set.
extension Vocabulary {
    static let endOfTurnTexts = [
        "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|end_of_text|>",
        "<EOT>", "_<EOT>",
        "[EOT]", "<\u{FF5C}end\u{2581}of\u{2581}sentence\u{FF5C}>", "<end_of_utterance>",
    ]
    static let fimPadTexts = ["<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"]
    static let fimRepoTexts = [
        "<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>",
    ]
    static let fimSeparatorTexts = ["<|file_sep|>"]
    static let endOfGenerationTexts = [
        "<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>",
        "<end_of_turn>",
        "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]",
        "<|end_of_text|>",
        "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>",
        "<\u{FF5C}end\u{2581}of\u{2581}sentence\u{FF5C}>",
        "[e~[",
    ]

    mutating func applyTextBasedSpecialTokenRules() {
        let table = textToID
        func id(_ text: String) -> Int32? { table.value(for: Array(text.utf8)) }
        /// The lowest id among the texts that exist (llama.cpp's pick is hash-order dependent).
        func first(of texts: [String]) -> Int32? { texts.compactMap(id).min() }
        func markControl(_ token: Int32?) {
            if let token { attributes[Int(token)].insert(.control) }
        }

        if eot == nil {
            eot = first(of: Self.endOfTurnTexts)
            markControl(eot)
        }
        if eom == nil {
            eom = id("<|eom_id|>")
            markControl(eom)
        }
        if fimPad == nil {
            fimPad = first(of: Self.fimPadTexts)
            markControl(fimPad)
        }
        if fimRepo == nil {
            fimRepo = first(of: Self.fimRepoTexts)
            markControl(fimRepo)
        }
        if fimSeparator == nil {
            fimSeparator = first(of: Self.fimSeparatorTexts)
            markControl(fimSeparator)
        }

        var ends = Set([fimPad, fimRepo, fimSeparator].compactMap { $0 })
        for text in Self.endOfGenerationTexts {
            guard let token = id(text) else { continue }
            ends.insert(token)
            markControl(token)
        }
        // gpt-oss renders these even though they are special.
        for text in ["<|channel|>", "<|message|>", "<|start|>", "<|constrain|>"] {
            if let token = id(text) { attributes[Int(token)] = .userDefined }
        }
        for token in [eos, eot, eom].compactMap({ $0 }) { ends.insert(token) }

        // o200k_harmony / solar-open: "<|end|>" ends a message, not the generation.
        let has = { (text: String) in id(text).map(ends.contains) ?? false }
        if let end = id("<|end|>"), ends.contains(end),
            (has("<|return|>") && (has("<|call|>") || has("<|calls|>")))
                || (has("<|flush|>") && has("<|calls|>"))
        {
            ends.remove(end)
            attributes[Int(end)] = .userDefined
        }
        // Gemma 4 and PLaMo use "</s>" as an ordinary token.
        if let closing = id("</s>"), ends.contains(closing),
            has("<|tool_response>") || has("<|plamo:eos|>")
        {
            ends.remove(closing)
            attributes[Int(closing)] = .normal
        }
        endOfGeneration = ends
    }
}
