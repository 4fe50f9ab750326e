/// GPT-2's reversible byte <-> printable-codepoint mapping used by byte-level BPE vocabularies:
/// printable Latin-1 bytes map to themselves, the other 68 bytes to U+0100 and up, in order.
enum ByteLevelMapping {
    static let codepointForByte: [UInt32] = {
        var table = [UInt32](repeating: 0, count: 256)
        var next: UInt32 = 256
        for byte in 0..<256 {
            let printable =
                (0x21...0x7E).contains(byte) || (0xA1...0xAC).contains(byte)
                || (0xAE...0xFF).contains(byte)
            if printable {
                table[byte] = UInt32(byte)
            } else {
                table[byte] = next
                next += 1
            }
        }
        return table
    }()

    /// Inverse of `codepointForByte`; -1 for codepoints that are not the image of a byte.
    static let byteForCodepoint: [Int16] = {
        var table = [Int16](repeating: -1, count: 324)
        for (byte, codepoint) in codepointForByte.enumerated() {
            table[Int(codepoint)] = Int16(byte)
        }
        return table
    }()

    /// The UTF-8 of the mapped codepoint for `byte` (1 or 2 bytes).
    static func mappedUTF8(for byte: UInt8) -> [UInt8] {
        Array(String(Character(Unicode.Scalar(codepointForByte[Int(byte)])!)).utf8)
    }

    /// Decodes a vocabulary token's text back to raw bytes. Codepoints outside the mapping are
    /// kept as their own UTF-8, so odd tokens still render instead of vanishing.
    static func decode(_ tokenText: String) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(tokenText.utf8.count)
        for scalar in tokenText.unicodeScalars {
            let value = Int(scalar.value)
            if value < byteForCodepoint.count, byteForCodepoint[value] >= 0 {
                bytes.append(UInt8(byteForCodepoint[value]))
            } else {
                bytes.append(contentsOf: String(scalar).utf8)
            }
        }
        return bytes
    }

    /// Like `decode`, but nil when some codepoint is not the image of a byte.
    static func strictDecode(_ tokenText: String) -> [UInt8]? {
        var bytes: [UInt8] = []
        for scalar in tokenText.unicodeScalars {
            let value = Int(scalar.value)
            guard value < byteForCodepoint.count, byteForCodepoint[value] >= 0 else { return nil }
            bytes.append(UInt8(byteForCodepoint[value]))
        }
        return bytes
    }
}
