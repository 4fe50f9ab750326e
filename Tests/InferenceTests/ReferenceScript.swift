import Foundation

/// Runs a generator in scripts/reference/ (python3) from a test, for reference files that
/// live in the model folder rather than the repository.
enum ReferenceScript {
    struct Failed: Error, CustomStringConvertible {
        let script: String
        let output: String
        var description: String {
            "scripts/reference/\(script) failed (needs the gguf and llama-cpp-python packages, "
                + "see scripts/reference/README.md):\n\(output)"
        }
    }

    static func run(_ script: String, arguments: [String]) throws {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("scripts/reference/\(script)").path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", path] + arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw Failed(
                script: script, output: String(decoding: output.suffix(4000), as: UTF8.self))
        }
    }
}
