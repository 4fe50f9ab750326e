import Crypto
import Foundation

/// SHA-256 of what a stage received or sent, over a canonical byte form: token ids as u32
/// little-endian, activations as f32 little-endian, row after row. A stage's output digest
/// and the next stage's input digest are computed from the same bytes (the wire is
/// lossless at f32), so a hop that alters anything breaks the chain.
public enum Digests {
    public static func tokens(_ tokens: some Collection<Int32>) -> [UInt8] {
        var hasher = SHA256()
        for token in tokens {
            withUnsafeBytes(of: UInt32(bitPattern: token).littleEndian) {
                hasher.update(bufferPointer: $0)
            }
        }
        return Array(hasher.finalize())
    }

    public static func floats(_ values: some Collection<Float>) -> [UInt8] {
        var hasher = SHA256()
        #if _endian(little)
            // Arrays and slices hash their memory as is: callers in other modules get the
            // unspecialized generic, whose per-value loop below is slow for long rows.
            let whole: Void? = values.withContiguousStorageIfAvailable {
                hasher.update(bufferPointer: UnsafeRawBufferPointer($0))
            }
            if whole != nil { return Array(hasher.finalize()) }
        #endif
        var chunk: [UInt32] = []
        chunk.reserveCapacity(1024)
        for value in values {
            chunk.append(value.bitPattern.littleEndian)
            if chunk.count == 1024 {
                chunk.withUnsafeBytes { hasher.update(bufferPointer: $0) }
                chunk.removeAll(keepingCapacity: true)
            }
        }
        chunk.withUnsafeBytes { hasher.update(bufferPointer: $0) }
        return Array(hasher.finalize())
    }

    public static func sha256(_ bytes: some DataProtocol) -> [UInt8] {
        Array(SHA256.hash(data: bytes))
    }

    public static func hex(_ bytes: some Sequence<UInt8>) -> String {
        bytes.map { String(format: "%02x", $0) }.joined()
    }

    public static func bytes(hex: String) -> [UInt8]? {
        let characters = Array(hex.utf8)
        guard characters.count % 2 == 0 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(characters.count / 2)
        var index = 0
        while index < characters.count {
            guard let high = nibble(characters[index]), let low = nibble(characters[index + 1])
            else { return nil }
            out.append(high << 4 | low)
            index += 2
        }
        return out
    }

    private static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
