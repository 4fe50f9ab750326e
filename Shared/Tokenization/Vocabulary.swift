import GGUF

/// The token table and the settings llama.cpp reads with it from GGUF metadata.
struct Vocabulary: Sendable {
    enum Model: Sendable, Equatable {
        case bytePairEncoding(PreTokenizer)
        case sentencePiece
    }

    var model: Model
    var tokens: [String]
    var tokenBytes: [[UInt8]]
    var attributes: [TokenAttributes]
    var scores: [Float]
    var textToID = ByteStringTable(keys: [], values: [])

    var bos: Int32?
    var eos: Int32?
    var eot: Int32?
    var eom: Int32?
    var unknown: Int32?
    var padding: Int32?
    var fimPad: Int32?
    var fimRepo: Int32?
    var fimSeparator: Int32?
    var endOfGeneration: Set<Int32> = []

    var addBOS = false
    var addEOS = false
    var addSpacePrefix = false
    var cleanSpaces = false
    var ignoreMerges = false
    /// Ids of control, user-defined and unknown tokens, longest text first: the order in
    /// which they are cut out of input text.
    var specialTokensByLength: [Int32] = []

    var count: Int { tokens.count }

    func contains(_ id: Int32) -> Bool { id >= 0 && Int(id) < tokens.count }

    static func load(from metadata: [String: GGUFValue]) throws -> Vocabulary {
        let reader = MetadataReader(metadata: metadata)
        let modelName = try reader.string("tokenizer.ggml.model")
        var settings = PreTokenizer.Settings(preTokenizer: .gpt2)
        let model: Model
        switch modelName {
        case "gpt2":
            let preName = reader.optionalString("tokenizer.ggml.pre") ?? "default"
            guard let known = PreTokenizer.settings(forGGUFName: preName) else {
                throw TokenizerError.unsupportedPreTokenizer(preName)
            }
            settings = known
            model = .bytePairEncoding(known.preTokenizer)
        case "llama":
            model = .sentencePiece
        default:
            throw TokenizerError.unsupportedModel(modelName)
        }

        var texts = try reader.stringArray("tokenizer.ggml.tokens")
        guard !texts.isEmpty else { throw TokenizerError.emptyVocabulary }
        for index in texts.indices where texts[index].isEmpty { texts[index] = "[EMPTY_\(index)]" }
        let scores = try reader.optionalNumberArray(
            "tokenizer.ggml.scores", minimumCount: texts.count)
        let types = try reader.optionalNumberArray(
            "tokenizer.ggml.token_type", minimumCount: texts.count)

        var vocabulary = Vocabulary(
            model: model, tokens: texts, tokenBytes: texts.map { Array($0.utf8) },
            attributes: types.map {
                $0.prefix(texts.count).map { TokenAttributes(ggufTokenType: Int($0)) }
            }
                ?? Array(repeating: .normal, count: texts.count),
            scores: scores.map { Array($0.prefix(texts.count)).map(Float.init) }
                ?? Array(repeating: 0, count: texts.count))
        vocabulary.textToID = ByteStringTable(
            keys: vocabulary.tokenBytes, values: (0..<Int32(texts.count)).map { $0 })

        switch model {
        case .bytePairEncoding:
            vocabulary.bos = 11
            vocabulary.eos = 11
            vocabulary.cleanSpaces = settings.cleanSpaces
            vocabulary.ignoreMerges = settings.ignoreMerges
            vocabulary.addBOS = settings.addBOS ?? false
        case .sentencePiece:
            vocabulary.bos = 1
            vocabulary.eos = 2
            vocabulary.unknown = 0
            vocabulary.addSpacePrefix = true
            vocabulary.addBOS = true
        }
        vocabulary.addSpacePrefix =
            reader.optionalBool("tokenizer.ggml.add_space_prefix") ?? vocabulary.addSpacePrefix
        try vocabulary.readSpecialTokenIDs(reader)
        vocabulary.addBOS = reader.optionalBool("tokenizer.ggml.add_bos_token") ?? vocabulary.addBOS
        vocabulary.addEOS = reader.optionalBool("tokenizer.ggml.add_eos_token") ?? vocabulary.addEOS
        vocabulary.applyTextBasedSpecialTokenRules()
        vocabulary.buildSpecialTokenOrder()
        vocabulary.applyModelNameRules(modelName: reader.optionalString("general.name") ?? "")
        return vocabulary
    }

    /// Metadata ids win over the defaults when they are inside the vocabulary; defaults
    /// outside it are dropped.
    private mutating func readSpecialTokenIDs(_ reader: MetadataReader) throws {
        func resolve(_ key: String, _ current: Int32?) -> Int32? {
            let fallback = current.flatMap { contains($0) ? $0 : nil }
            guard let value = reader.optionalInt("tokenizer.ggml.\(key)") else { return fallback }
            return contains(Int32(clamping: value)) ? Int32(clamping: value) : fallback
        }
        bos = resolve("bos_token_id", bos)
        eos = resolve("eos_token_id", eos)
        eot = resolve("eot_token_id", eot)
        eom = resolve("eom_token_id", eom)
        unknown = resolve("unknown_token_id", unknown)
        padding = resolve("padding_token_id", padding)
        fimPad = resolve("fim_pad_token_id", fimPad)
        fimRepo = resolve("fim_rep_token_id", fimRepo)
        fimSeparator = resolve("fim_sep_token_id", fimSeparator)
    }

    private mutating func buildSpecialTokenOrder() {
        let special: TokenAttributes = [.control, .userDefined, .unknown]
        let ids = (0..<Int32(count)).filter { !attributes[Int($0)].isDisjoint(with: special) }
        // Stable, longest first, so a longer token wins over one it contains.
        specialTokensByLength = ids.enumerated()
            .sorted { a, b in
                let (la, lb) = (tokenBytes[Int(a.element)].count, tokenBytes[Int(b.element)].count)
                return la != lb ? la > lb : a.offset < b.offset
            }
            .map(\.element)
    }

    /// Phi-3 strips whitespace after most special tokens (llama.cpp sets this by model name).
    private mutating func applyModelNameRules(modelName: String) {
        let name = modelName.lowercased()
        guard name.contains("phi-3") || name.contains("phi3") else { return }
        for id in specialTokensByLength { attributes[Int(id)].insert(.rightStrip) }
        let table = textToID
        func set(_ text: String, _ on: Bool) {
            guard let id = table.value(for: Array(text.utf8)) else { return }
            if on {
                attributes[Int(id)].insert(.rightStrip)
            } else {
                attributes[Int(id)].remove(.rightStrip)
            }
        }
        set("</s>", true)
        for text in ["<unk>", "<s>", "<|endoftext|>"] { set(text, false) }
    }
}

/// Typed access to GGUF metadata with errors that name the key.
struct MetadataReader {
    let metadata: [String: GGUFValue]

    func string(_ key: String) throws -> String {
        guard let value = metadata[key] else { throw TokenizerError.missingMetadata(key: key) }
        guard let string = value.string else {
            throw TokenizerError.wrongMetadataType(key: key, expected: "a string")
        }
        return string
    }

    func optionalString(_ key: String) -> String? { metadata[key]?.string }
    func optionalBool(_ key: String) -> Bool? { metadata[key]?.bool }
    func optionalInt(_ key: String) -> Int? { metadata[key]?.int }

    func stringArray(_ key: String) throws -> [String] {
        guard let value = metadata[key] else { throw TokenizerError.missingMetadata(key: key) }
        guard let array = value.array else {
            throw TokenizerError.wrongMetadataType(key: key, expected: "an array of strings")
        }
        return try array.map {
            guard let string = $0.string else {
                throw TokenizerError.wrongMetadataType(key: key, expected: "an array of strings")
            }
            return string
        }
    }

    func optionalStringArray(_ key: String) throws -> [String]? {
        metadata[key] == nil ? nil : try stringArray(key)
    }

    func optionalNumberArray(_ key: String, minimumCount: Int) throws -> [Double]? {
        guard let value = metadata[key] else { return nil }
        guard let array = value.array else {
            throw TokenizerError.wrongMetadataType(key: key, expected: "a numeric array")
        }
        guard array.count >= minimumCount else {
            throw TokenizerError.arrayTooShort(key: key, count: array.count, needed: minimumCount)
        }
        return try array.map {
            guard let number = $0.double else {
                throw TokenizerError.wrongMetadataType(key: key, expected: "a numeric array")
            }
            return number
        }
    }
}
