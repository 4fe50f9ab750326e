import GGUF

public typealias TokenID = Int32

/// Text <-> token ids for a GGUF model, matching llama.cpp's tokenizer: byte-level BPE
/// (`tokenizer.ggml.model` = gpt2) with the llama.cpp pre-tokenizers, or SentencePiece BPE
/// (`llama`). Immutable and safe to share between threads.
public final class Tokenizer: Sendable {
    public enum Kind: Sendable, Equatable {
        case bytePairEncoding(PreTokenizer)
        case sentencePiece
    }

    let vocabulary: Vocabulary
    private let bytePairEncoder: BytePairEncoder?
    private let sentencePieceEncoder: SentencePieceEncoder?
    /// The Jinja chat template stored in the file, if any.
    public let chatTemplateSource: String?
    /// `general.architecture`: picks the family's chat template when the file has none.
    public let architecture: String?

    public convenience init(gguf: GGUFFile) throws {
        try self.init(metadata: gguf.metadata)
    }

    public convenience init(path: String) throws {
        try self.init(gguf: GGUFFile(path: path))
    }

    public init(metadata: [String: GGUFValue]) throws {
        let vocabulary = try Vocabulary.load(from: metadata)
        self.vocabulary = vocabulary
        switch vocabulary.model {
        case .bytePairEncoding:
            let merges = try MetadataReader(metadata: metadata).optionalStringArray(
                "tokenizer.ggml.merges")
            guard let merges else {
                throw TokenizerError.missingMetadata(key: "tokenizer.ggml.merges")
            }
            bytePairEncoder = BytePairEncoder(vocabulary: vocabulary, merges: merges)
            sentencePieceEncoder = nil
        case .sentencePiece:
            bytePairEncoder = nil
            sentencePieceEncoder = SentencePieceEncoder(vocabulary: vocabulary)
        }
        chatTemplateSource = metadata["tokenizer.chat_template"]?.string
        architecture = metadata["general.architecture"]?.string
    }

    // MARK: Vocabulary facts

    public var kind: Kind {
        switch vocabulary.model {
        case .bytePairEncoding(let pre): .bytePairEncoding(pre)
        case .sentencePiece: .sentencePiece
        }
    }
    public var vocabularySize: Int { vocabulary.count }
    public var bosTokenID: TokenID? { vocabulary.bos }
    public var eosTokenID: TokenID? { vocabulary.eos }
    public var eotTokenID: TokenID? { vocabulary.eot }
    public var unknownTokenID: TokenID? { vocabulary.unknown }
    public var paddingTokenID: TokenID? { vocabulary.padding }
    /// Whether `encode(_:addSpecial:)` adds BOS (from `tokenizer.ggml.add_bos_token` or the model default).
    public var addsBOS: Bool { vocabulary.addBOS }
    public var addsEOS: Bool { vocabulary.addEOS }
    /// Tokens that end generation: EOS, end-of-turn and the others llama.cpp recognises.
    public var endOfGenerationTokenIDs: Set<TokenID> { vocabulary.endOfGeneration }

    public func isEndOfGeneration(_ id: TokenID) -> Bool { vocabulary.endOfGeneration.contains(id) }

    /// The token's text as stored in the vocabulary (byte-level or ▁-escaped), or nil.
    public func tokenText(_ id: TokenID) -> String? {
        vocabulary.contains(id) ? vocabulary.tokens[Int(id)] : nil
    }

    public func attributes(of id: TokenID) -> TokenAttributes? {
        vocabulary.contains(id) ? vocabulary.attributes[Int(id)] : nil
    }

    /// The id of a token with exactly this vocabulary text (e.g. "<|im_end|>").
    public func tokenID(forText text: String) -> TokenID? {
        vocabulary.textToID.value(for: Array(text.utf8))
    }

    // MARK: Encoding

    /// Tokenizes like llama.cpp's `llama_tokenize(text, add_special, parse_special)`:
    /// `addSpecial` adds BOS/EOS where the model asks for them; `parseSpecial` lets control
    /// tokens written in the text (e.g. "<|im_start|>") become those tokens.
    public func encode(_ text: String, addSpecial: Bool = true, parseSpecial: Bool = false)
        -> [TokenID]
    {
        encode(
            text, bos: addSpecial && vocabulary.addBOS, eos: addSpecial && vocabulary.addEOS,
            parseSpecial: parseSpecial)
    }

    /// Tokenizes with BOS forced on or off regardless of the metadata (EOS never added).
    public func encode(_ text: String, addBOS: Bool, parseSpecial: Bool = false) -> [TokenID] {
        encode(text, bos: addBOS, eos: false, parseSpecial: parseSpecial)
    }

    private func encode(_ text: String, bos: Bool, eos: Bool, parseSpecial: Bool) -> [TokenID] {
        let bytes = Array(text.utf8)
        let fragments = SpecialTokenSplitter.split(
            bytes, vocabulary: vocabulary, parseSpecial: parseSpecial)
        return encode(bytes, fragments: fragments, bos: bos, eos: eos)
    }

    /// Tokenizes `bytes` already cut into special tokens and text runs.
    func encode(_ bytes: [UInt8], fragments: [TextFragment], bos: Bool, eos: Bool) -> [TokenID] {
        var output: [TokenID] = []
        output.reserveCapacity(bytes.count / 3 + 2)
        if bos, let id = vocabulary.bos { output.append(id) }
        switch vocabulary.model {
        case .bytePairEncoding(let preTokenizer):
            var workspace = BytePairEncoder.Workspace()
            for fragment in fragments {
                switch fragment {
                case .token(let id): output.append(id)
                case .text(let range):
                    encodeBytePairs(
                        bytes[range], preTokenizer: preTokenizer, workspace: &workspace,
                        into: &output)
                }
            }
        case .sentencePiece:
            // A space is prefixed to text at the start and after every special token.
            var previousWasSpecial = true
            for fragment in fragments {
                switch fragment {
                case .token(let id):
                    output.append(id)
                    previousWasSpecial = true
                case .text(let range):
                    var piece: [UInt8] =
                        vocabulary.addSpacePrefix && previousWasSpecial ? [0xE2, 0x96, 0x81] : []
                    for byte in bytes[range] {
                        if byte == 0x20 { piece += [0xE2, 0x96, 0x81] } else { piece.append(byte) }
                    }
                    sentencePieceEncoder!.encode(piece, into: &output)
                    previousWasSpecial = false
                }
            }
        }
        if eos, let id = vocabulary.eos { output.append(id) }
        return output
    }

    private func encodeBytePairs(
        _ text: ArraySlice<UInt8>, preTokenizer: PreTokenizer,
        workspace: inout BytePairEncoder.Workspace,
        into output: inout [TokenID]
    ) {
        // Pre-tokenize on codepoints, then hand each word's UTF-8 bytes to the merger.
        var codepoints: [UInt32] = []
        var byteOffsets: [Int] = []
        codepoints.reserveCapacity(text.count)
        byteOffsets.reserveCapacity(text.count + 1)
        let string = String(decoding: text, as: UTF8.self)
        var offset = 0
        for scalar in string.unicodeScalars {
            codepoints.append(scalar.value)
            byteOffsets.append(offset)
            offset += UTF8.width(scalar)
        }
        byteOffsets.append(offset)
        let utf8 = Array(string.utf8)
        let ends = preTokenizer.wordEnds(codepoints)
        utf8.withUnsafeBufferPointer { bytes in
            var start = 0
            for end in ends {
                let word = UnsafeBufferPointer(
                    rebasing: bytes[byteOffsets[start]..<byteOffsets[end]])
                bytePairEncoder!.encode(word: word, workspace: &workspace, into: &output)
                start = end
            }
        }
    }
}
