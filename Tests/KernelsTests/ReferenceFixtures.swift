import Foundation

/// Reference data generated with llama.cpp / gguf-py into Tests/Reference (see scripts/reference).
enum ReferenceFixtures {
    struct Missing: Error, CustomStringConvertible {
        let path: String
        var description: String {
            "reference fixture \(path) is missing; regenerate it with scripts/reference"
        }
    }

    static let directory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Reference")

    static func load<T: Decodable>(_ type: T.Type, _ relativePath: String) throws -> T {
        let url = directory.appendingPathComponent(relativePath)
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw Missing(path: url.path)
        }
        return try JSONDecoder().decode(T.self, from: data)
    }

    static func bytes(hex: String) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(hex.utf8.count / 2)
        var high: UInt8?
        for character in hex.utf8 {
            let nibble: UInt8 =
                switch character {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): character - UInt8(ascii: "0")
                case UInt8(ascii: "a")...UInt8(ascii: "f"): character - UInt8(ascii: "a") + 10
                case UInt8(ascii: "A")...UInt8(ascii: "F"): character - UInt8(ascii: "A") + 10
                default: 0
                }
            if let pending = high {
                bytes.append(pending << 4 | nibble)
                high = nil
            } else {
                high = nibble
            }
        }
        return bytes
    }
}

/// Tests/Reference/dequant/<type>.json: real tensor rows and gguf-py's dequantization.
struct DequantFixture: Decodable {
    struct Row: Decodable {
        let row: Int
        let bytes_hex: String
        let values: [Float]
    }
    let type: String
    let tensor: String
    let row_length: Int
    let rows: [Row]
}

/// Tests/Reference/quantize/<type>.json: ggml-reference quantization of known inputs.
struct QuantizeFixture: Decodable {
    let type: String
    let input: [Float]
    let bytes_hex: String
}

/// Deterministic pseudo-random numbers (SplitMix64) so failures reproduce.
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

    mutating func floats(_ count: Int, in range: ClosedRange<Float> = -1...1) -> [Float] {
        (0..<count).map { _ in Float.random(in: range, using: &self) }
    }
}
