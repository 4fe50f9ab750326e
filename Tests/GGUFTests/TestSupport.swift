import Foundation
import GGUF

/// Locates test inputs: the default model (as scripts/fetch-model stores it) and the reference JSON.
enum TestSupport {
    struct MissingModel: Error, CustomStringConvertible {
        let path: String
        var description: String { "model not found at \(path): run scripts/fetch-model first" }
    }

    static func modelPath() throws -> String {
        let path = ModelLocator.path(forName: ModelLocator.defaultModelName)
        guard FileManager.default.fileExists(atPath: path) else { throw MissingModel(path: path) }
        return path
    }

    static func referenceURL(_ relative: String) -> URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Reference").appendingPathComponent(relative)
    }

    static func referenceJSON(_ relative: String) throws -> [String: Any] {
        let data = try Data(contentsOf: referenceURL(relative))
        return try JSONSerialization.jsonObject(with: data) as! [String: Any]
    }

    static func bytes(fromHex hex: String) -> [UInt8] {
        var out: [UInt8] = []
        var iterator = hex.utf8.makeIterator()
        func nibble(_ c: UInt8) -> UInt8 { c <= 57 ? c - 48 : c - 87 }
        while let high = iterator.next(), let low = iterator.next() {
            out.append(nibble(high) << 4 | nibble(low))
        }
        return out
    }
}

/// A deterministic SplitMix64 generator so fuzz runs are reproducible from their seed.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Hand-assembles GGUF bytes field by field (independent of GGUFWriter) so tests can
/// build files that are wrong in exactly one place.
struct RawGGUF {
    var bytes: [UInt8] = []

    mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
    mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
    mutating func string(_ s: String) {
        u64(UInt64(s.utf8.count))
        bytes += Array(s.utf8)
    }
    mutating func header(version: UInt32 = 3, tensors: UInt64, keys: UInt64) {
        u32(0x4655_4747)
        u32(version)
        u64(tensors)
        u64(keys)
    }
    mutating func tensorInfo(_ name: String, dims: [UInt64], type: UInt32, offset: UInt64) {
        string(name)
        u32(UInt32(dims.count))
        for dim in dims { u64(dim) }
        u32(type)
        u64(offset)
    }
    mutating func padTo(_ alignment: Int) {
        while bytes.count % alignment != 0 { bytes.append(0) }
    }
}
