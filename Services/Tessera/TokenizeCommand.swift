import ArgumentParser
import Foundation
import GGUF
import Tokenization

/// `tessera tokenize`: text to token ids (a JSON array), or ids back to text with `--decode`,
/// using the model's own tokenizer exactly as the engine does.
struct TokenizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenize",
        abstract: "Print the token ids of a text as a JSON array, or decode ids with --decode.",
        discussion: """
            Examples:
              tessera tokenize --model smollm2-135m "Hello, world!"
              tessera tokenize --special "<|im_start|>user"
              tessera tokenize --decode "[19556, 28, 905, 17]"
            """)

    @Option(help: "Model name (in $TESSERA_MODEL_DIR) or path to a GGUF file.")
    var model = ModelLocator.defaultModelName

    @Flag(
        help:
            "Encoding: turn special-token text such as <|im_start|> into those tokens. Decoding: show special tokens."
    )
    var special = false

    @Flag(help: "Do not add the BOS/EOS tokens the model asks for.")
    var noAddSpecial = false

    @Flag(help: "Decode token ids (\"[1,2,3]\" or \"1 2 3\") instead of encoding text.")
    var decode = false

    @Argument(help: "The text to tokenize, or the ids to decode.")
    var input: [String]

    func run() throws {
        let tokenizer = try Tokenizer(path: try ModelResolution.path(model))
        let joined = input.joined(separator: " ")
        if decode {
            let ids = try Self.parseIDs(joined)
            print(try tokenizer.decode(ids, renderSpecial: special))
        } else {
            let ids = tokenizer.encode(joined, addSpecial: !noAddSpecial, parseSpecial: special)
            print("[" + ids.map(String.init).joined(separator: ",") + "]")
        }
    }

    /// Accepts a JSON array or ids separated by spaces and/or commas.
    static func parseIDs(_ text: String) throws -> [Int32] {
        var body = text.trimmingCharacters(in: .whitespacesAndNewlines)
        if body.hasPrefix("[") && body.hasSuffix("]") { body = String(body.dropFirst().dropLast()) }
        let parts = body.split { $0 == "," || $0 == " " || $0 == "\n" || $0 == "\t" }
        return try parts.map { part in
            guard let id = Int32(part) else {
                throw ValidationError(
                    "not a token id: '\(part)' (expected \"[1,2,3]\" or \"1 2 3\")")
            }
            return id
        }
    }
}
