/// Watches generated text for stop strings. Text that might be the start of a stop string
/// is held back until it is certain either way; when a stop string appears, everything from
/// it on is cut and generation should end. Works on Unicode scalars, so a stop string split
/// across tokens (or characters) is still found.
public struct StopStringMatcher: Sendable {
    public let stopStrings: [String]
    private let patterns: [[Unicode.Scalar]]
    private var held: [Unicode.Scalar] = []
    public private(set) var matchedStopString: String?

    public init(stopStrings: [String]) {
        self.stopStrings = stopStrings.filter { !$0.isEmpty }
        patterns = self.stopStrings.map { Array($0.unicodeScalars) }
    }

    public var isStopped: Bool { matchedStopString != nil }

    /// Adds newly generated text; returns the part that is safe to show now.
    public mutating func append(_ text: String) -> String {
        guard !isStopped else { return "" }
        held.append(contentsOf: text.unicodeScalars)
        if let (start, index) = earliestMatch() {
            matchedStopString = stopStrings[index]
            let emitted = String(String.UnicodeScalarView(held[..<start]))
            held.removeAll()
            return emitted
        }
        let keep = longestSuffixThatStartsAStopString()
        let emitted = String(String.UnicodeScalarView(held[..<(held.count - keep)]))
        held.removeFirst(held.count - keep)
        return emitted
    }

    /// Generation ended for another reason: release whatever was held back.
    public mutating func finish() -> String {
        defer { held.removeAll() }
        return isStopped ? "" : String(String.UnicodeScalarView(held))
    }

    /// Earliest start of any complete stop string (ties: the first listed).
    private func earliestMatch() -> (start: Int, pattern: Int)? {
        var best: (start: Int, pattern: Int)?
        for (index, pattern) in patterns.enumerated() where pattern.count <= held.count {
            for start in 0...(held.count - pattern.count)
            where best.map({ start < $0.start }) ?? true {
                if held[start..<(start + pattern.count)].elementsEqual(pattern) {
                    best = (start, index)
                    break
                }
            }
        }
        return best
    }

    private func longestSuffixThatStartsAStopString() -> Int {
        var longest = 0
        for pattern in patterns {
            for length in stride(from: min(pattern.count - 1, held.count), to: longest, by: -1)
            where held.suffix(length).elementsEqual(pattern.prefix(length)) {
                longest = length
                break
            }
        }
        return longest
    }
}
