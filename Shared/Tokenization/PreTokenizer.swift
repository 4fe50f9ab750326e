/// How byte-level BPE vocabularies cut text into words before merging, mirroring the regex
/// lists llama.cpp assigns to each `tokenizer.ggml.pre` value. The regexes are implemented as
/// hand-written scanners over codepoints (see GPT2WordScanner and Llama3WordScanner).
public enum PreTokenizer: String, Sendable, CaseIterable {
    /// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)`
    case gpt2
    /// Every \p{N} codepoint on its own first, then the gpt2 rules (starcoder, smollm, ...).
    case digitsThenGPT2
    /// Llama 3: letters may take one leading non-letter, digits in groups of up to three.
    case llama3
    /// Qwen 2: like llama3 but one digit per word.
    case qwen2

    /// llama.cpp's settings that come with a `tokenizer.ggml.pre` name.
    struct Settings {
        var preTokenizer: PreTokenizer
        var cleanSpaces = true
        var ignoreMerges = false
        var addBOS: Bool?
    }

    static func settings(forGGUFName name: String) -> Settings? {
        switch name {
        case "gpt-2", "phi-2", "jina-es", "jina-de", "gigachat", "jina-v2-es", "jina-v2-de",
            "mellum", "mpt", "olmo",
            "jais", "jina-v1-en", "jina-v2-code", "roberta-bpe":
            return Settings(preTokenizer: .gpt2)
        case "starcoder", "refact", "codeshell", "exaone", "minerva-7b", "mellum2":
            return Settings(preTokenizer: .digitsThenGPT2)
        case "smollm", "command-r":
            return Settings(preTokenizer: .digitsThenGPT2, cleanSpaces: false)
        case "llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0",
            "lfm2":
            return Settings(preTokenizer: .llama3, ignoreMerges: true, addBOS: true)
        case "dbrx", "smaug-bpe", "chatglm-bpe":
            return Settings(preTokenizer: .llama3)
        case "qwen2", "deepseek-r1-qwen", "kormo", "hunyuan", "megrez":
            return Settings(preTokenizer: .qwen2, cleanSpaces: false)
        case "stablelm2":
            return Settings(preTokenizer: .qwen2)
        default:
            return nil
        }
    }

    /// Splits `codepoints` into words; returns each word's end index (exclusive), in order.
    func wordEnds(_ codepoints: [UInt32]) -> [Int] {
        let flags = codepoints.map(UnicodeClassifier.flags)
        var ends: [Int] = []
        ends.reserveCapacity(codepoints.count / 3 + 1)
        codepoints.withUnsafeBufferPointer { cps in
            flags.withUnsafeBufferPointer { fls in
                switch self {
                case .gpt2:
                    GPT2WordScanner(codepoints: cps, flags: fls).split(0..<cps.count, into: &ends)
                case .digitsThenGPT2:
                    let scanner = GPT2WordScanner(codepoints: cps, flags: fls)
                    // llama.cpp first isolates each number codepoint, then applies the gpt2
                    // rules inside every remaining piece; pieces never merge back.
                    var start = 0
                    for index in 0..<cps.count where fls[index].isNumber {
                        if start < index { scanner.split(start..<index, into: &ends) }
                        ends.append(index + 1)
                        start = index + 1
                    }
                    if start < cps.count { scanner.split(start..<cps.count, into: &ends) }
                case .llama3:
                    Llama3WordScanner(codepoints: cps, flags: fls, maxDigits: 3).split(
                        0..<cps.count, into: &ends)
                case .qwen2:
                    Llama3WordScanner(codepoints: cps, flags: fls, maxDigits: 1).split(
                        0..<cps.count, into: &ends)
                }
            }
        }
        return ends
    }
}
