/// Unicode classes the pre-tokenizers test (\p{L}, \p{N}, \s, ...), with llama.cpp's grouping:
/// one flag per general-category group, `undefined` for unassigned codepoints, plus White_Space.
struct CodepointFlags: OptionSet, Sendable {
    let rawValue: UInt16

    static let undefined = CodepointFlags(rawValue: 0x001)
    static let number = CodepointFlags(rawValue: 0x002)
    static let letter = CodepointFlags(rawValue: 0x004)
    static let separator = CodepointFlags(rawValue: 0x008)
    static let mark = CodepointFlags(rawValue: 0x010)
    static let punctuation = CodepointFlags(rawValue: 0x020)
    static let symbol = CodepointFlags(rawValue: 0x040)
    static let control = CodepointFlags(rawValue: 0x080)
    static let whitespace = CodepointFlags(rawValue: 0x100)

    var isLetter: Bool { contains(.letter) }
    var isNumber: Bool { contains(.number) }
    var isWhitespace: Bool { contains(.whitespace) }
}

enum UnicodeClassifier {
    /// One entry per codepoint (2.2 MB), expanded once from the generated runs so that the
    /// scanners' hot loops are a single array load.
    private static let table: [UInt16] = {
        var table = [UInt16](repeating: CodepointFlags.undefined.rawValue, count: 0x110000)
        let runs = unicodeFlagRuns
        for index in runs.indices {
            let start = Int(runs[index] >> 9)
            let end = index + 1 < runs.count ? Int(runs[index + 1] >> 9) : 0x110000
            let flags = UInt16(runs[index] & 0x1FF)
            for codepoint in start..<end { table[codepoint] = flags }
        }
        return table
    }()

    static func flags(_ codepoint: UInt32) -> CodepointFlags {
        codepoint < 0x110000 ? CodepointFlags(rawValue: table[Int(codepoint)]) : .undefined
    }
}
