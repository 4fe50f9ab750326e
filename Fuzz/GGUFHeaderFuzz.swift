import GGUF

/// libFuzzer entry: any bytes as a GGUF file. Each input must parse or throw a GGUFError —
/// never trap, hang or allocate without bound. Built by scripts/fuzz.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzGGUFHeader(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = [UInt8](UnsafeBufferPointer(start: data, count: size))
    guard let file = try? GGUFFile(bytes: bytes) else { return 0 }
    // Touch what a loader touches after parsing: every tensor's bytes and every value.
    for tensor in file.tensors {
        _ = file.bytes(of: tensor).count
    }
    for (_, value) in file.metadata {
        _ = value.string
    }
    return 0
}
