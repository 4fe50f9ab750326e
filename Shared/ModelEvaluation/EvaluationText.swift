import Foundation

/// The held-out text every Debian machine has, with a fixed split: calibration (Wanda's
/// input norms) reads the first part, evaluation the rest, so no variant is scored on the
/// text that shaped it.
public struct EvaluationText: Sendable {
    public static let defaultPath = "/usr/share/common-licenses/GPL-3"
    /// The split is the first paragraph break at or after this many characters (about 2,150
    /// of SmolLM2's tokens; the whole GPL-3 is 35,149 characters, 7,562 tokens).
    public static let calibrationCharacters = 10_000

    public let path: String
    public let calibration: String
    public let evaluation: String

    public struct Unreadable: Error, CustomStringConvertible {
        public let path: String
        public let reason: String
        public var description: String { "cannot read the evaluation text \(path): \(reason)" }
    }

    public init(path: String = defaultPath) throws {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw Unreadable(path: path, reason: "\(error.localizedDescription)")
        }
        self.init(path: path, text: text)
    }

    public init(path: String, text: String) {
        self.path = path
        let scalars = Array(text.unicodeScalars)
        var split = min(Self.calibrationCharacters, scalars.count)
        while split + 1 < scalars.count && !(scalars[split] == "\n" && scalars[split + 1] == "\n") {
            split += 1
        }
        if split + 1 >= scalars.count { split = min(Self.calibrationCharacters, scalars.count) }
        var calibration = String.UnicodeScalarView()
        calibration.append(contentsOf: scalars[0..<split])
        var evaluation = String.UnicodeScalarView()
        evaluation.append(contentsOf: scalars[split...])
        self.calibration = String(calibration)
        self.evaluation = String(evaluation)
    }
}
