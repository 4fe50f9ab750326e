import Foundation

/// A failure of the work a command was asked to do (not of its arguments): `tessera` prints
/// it as one line, `tessera: error: …`, and exits 1 — no usage text.
struct CLIError: Error, CustomStringConvertible {
    var description: String

    init(_ description: String) { self.description = description }

    /// Writes `tessera: error: <message>` to stderr, folded onto one line so a script can
    /// grep it and a terminal shows it whole.
    static func report(_ error: any Error) {
        let message = "\(error)".split(whereSeparator: \.isNewline)
            .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            .joined(separator: " | ")
        FileHandle.standardError.write(Data("tessera: error: \(message)\n".utf8))
    }
}
