import Foundation

/// Runs a script of scripts/reference (python3) from a test and returns its standard output.
enum PythonReference {
    struct Failed: Error, CustomStringConvertible {
        let script: String
        let output: String
        var description: String {
            "scripts/reference/\(script) failed (it needs numpy, gguf and llama-cpp-python, "
                + "see scripts/reference/README.md):\n\(output)"
        }
    }

    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    @discardableResult
    static func run(_ script: String, _ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments =
            ["python3", repository.appendingPathComponent("scripts/reference/\(script)").path]
            + arguments
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        // Read stderr on another thread so a chatty script cannot fill the pipe and stall.
        let errorText = LockedText()
        let reader = Thread {
            errorText.value = String(
                decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        }
        reader.start()
        let text = String(
            decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        while !errorText.isSet { usleep(1000) }
        guard process.terminationStatus == 0 else {
            throw Failed(script: script, output: String((text + errorText.value).suffix(4000)))
        }
        return text
    }

    /// Writes `values` as raw little-endian bytes (numpy's `fromfile`).
    static func write<T>(_ values: [T], to path: String) throws {
        try values.withUnsafeBytes { Data($0) }.write(to: URL(fileURLWithPath: path))
    }

    static func read<T>(_ type: T.Type, from path: String) throws -> [T] {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        return data.withUnsafeBytes { Array($0.bindMemory(to: T.self)) }
    }
}

/// Text set once by a reader thread.
private final class LockedText: @unchecked Sendable {
    private let lock = NSLock()
    private var text: String?
    var value: String {
        get { lock.withLock { text ?? "" } }
        set { lock.withLock { text = newValue } }
    }
    var isSet: Bool { lock.withLock { text != nil } }
}
