import Foundation
import GGUF
import Tokenization

/// libFuzzer entry: any bytes as text for the default model's tokenizer (the GGUF named by
/// TESSERA_FUZZ_MODEL). Encoding must never trap, with or without special-token parsing, and
/// every id it makes must have a piece. (Not a round trip: like llama.cpp, the encoder drops
/// some control characters, such as U+0016.)
/// Built by scripts/fuzz.
private let tokenizer: Tokenizer = {
    guard let path = ProcessInfo.processInfo.environment["TESSERA_FUZZ_MODEL"] else {
        fatalError("set TESSERA_FUZZ_MODEL to a GGUF file")
    }
    do {
        return try Tokenizer(metadata: try GGUFFile(path: path).metadata)
    } catch {
        fatalError("cannot load the tokenizer from \(path): \(error)")
    }
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTokenizer(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    _ = tokenizer.encode(text, addBOS: true, parseSpecial: true)
    let plain = tokenizer.encode(text, addBOS: false, parseSpecial: false)
    for id in plain where (try? tokenizer.piece(for: id)) == nil {
        fatalError("the encoder made token \(id), which has no piece")
    }
    return 0
}
