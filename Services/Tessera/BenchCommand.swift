import ArgumentParser
import Foundation
import GGUF
import Inference

/// `tessera bench engine`: our engine's prefill and decode speed against llama.cpp's on the same
/// model and settings. Every configuration runs in a fresh child process (this command
/// re-invoking itself with the hidden `--single` flag, or llama.cpp's Python bench script), so
/// each peak RSS is that configuration's alone. `tessera bench serve` (ServeBenchCommand.swift)
/// compares serving through the cluster with llama.cpp's llama-server.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench", abstract: "Benchmarks.",
        subcommands: [
            EngineBench.self, ServeBench.self, HopBenchCommand.self, CacheBenchCommand.self,
        ])

    struct EngineBench: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "engine",
            abstract: "Compare prefill/decode tokens per second and peak RSS with llama.cpp.")

        @Option(help: "GGUF path or model name.")
        var model = ModelLocator.defaultModelName
        @Option(help: "Comma-separated thread counts.")
        var threads = "1,2"
        @Option(help: "Prompt tokens processed in one prefill.")
        var promptTokens = 128
        @Option(help: "Tokens generated one at a time after the prefill.")
        var genTokens = 64
        @Option(help: "Measured passes per configuration (the median counts).")
        var repetitions = 3
        @Option(
            help:
                "Comma-separated session counts for Tessera's batched decode (sessions stepping together); empty: skip."
        )
        var batches = "1,4,16,32"
        @Option(help: "KV cache precision for Tessera: f16 (llama.cpp's default) or f32.")
        var kvCache = "f16"
        @Option(help: "Python interpreter for the llama.cpp and bandwidth scripts.")
        var python = "python3"
        @Option(help: "Folder holding llamacpp-bench.py and membw.py.")
        var scripts = "scripts/bench"
        @Flag(help: "Only benchmark Tessera's engine.")
        var skipLlamaCpp = false
        @Flag(help: .hidden)
        var single = false

        func validate() throws {
            guard promptTokens > 0, genTokens > 0, repetitions > 0 else {
                throw ValidationError(
                    "--prompt-tokens, --gen-tokens and --repetitions must be positive")
            }
            guard !(try threadCounts()).isEmpty else {
                throw ValidationError("--threads needs at least one count")
            }
            _ = try batchSizes()
            guard KVCachePrecision(rawValue: kvCache) != nil else {
                throw ValidationError("--kv-cache must be f16 or f32")
            }
        }

        func threadCounts() throws -> [Int] {
            try Self.positiveList(threads, option: "--threads")
        }

        func batchSizes() throws -> [Int] {
            try Self.positiveList(batches, option: "--batches")
        }

        static func positiveList(_ text: String, option: String) throws -> [Int] {
            try text.split(separator: ",").map {
                guard let count = Int($0.trimmingCharacters(in: .whitespaces)), count > 0 else {
                    throw ValidationError("\(option): '\($0)' is not a positive integer")
                }
                return count
            }
        }

        func run() throws {
            let path = try ModelResolution.path(model)
            if single {
                try runSingle(path: path, threads: try threadCounts()[0])
                return
            }
            var rows: [BenchRow] = []
            let loadBefore = Self.loadAverage()
            for count in try threadCounts() {
                FileHandle.standardError.write(Data("bench: tessera, \(count) thread(s)…\n".utf8))
                rows.append(try measureTessera(path: path, threads: count))
                if !skipLlamaCpp {
                    FileHandle.standardError.write(
                        Data("bench: llama.cpp, \(count) thread(s)…\n".utf8))
                    rows.append(measureLlamaCpp(path: path, threads: count))
                }
            }
            let bandwidth = skipLlamaCpp ? nil : measureBandwidth()
            print(
                BenchTable(
                    rows: rows, bandwidthGBps: bandwidth, promptTokens: promptTokens,
                    genTokens: genTokens
                ).render())
            // Other processes competing for the cores distort every number above; say how busy it was.
            print(
                "load average before/after: \(loadBefore) / \(Self.loadAverage()) on \(ProcessInfo.processInfo.activeProcessorCount) cores"
            )
        }

        static func loadAverage() -> String {
            guard let text = try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8) else {
                return "?"
            }
            return text.split(separator: " ").first.map(String.init) ?? "?"
        }

        /// Child process: one configuration, one JSON line on stdout.
        private func runSingle(path: String, threads: Int) throws {
            let stage = try TransformerStage(path: path, threads: threads)
            let benchmark = EngineBenchmark(
                promptTokens: promptTokens, generatedTokens: genTokens, repetitions: repetitions,
                kvCachePrecision: KVCachePrecision(rawValue: kvCache) ?? .f16)
            let result = try benchmark.run(stage: stage)
            // Peak RSS of one session's run, comparable with llama.cpp's; the batched runs
            // after it hold many sessions' KV caches.
            let peak = ProcessMetrics.peakResidentBytes()
            let batched = try batchSizes().map {
                EngineBenchmark.BatchedDecode(
                    sessions: $0,
                    tokensPerSecond: try benchmark.batchedDecodeRate(stage: stage, sessions: $0))
            }
            let row = BenchRow(
                engine: "tessera", threads: threads, prefillTPS: result.prefillTokensPerSecond,
                decodeTPS: result.decodeTokensPerSecond, peakRSSBytes: peak,
                weightBytesPerToken: stage.weightBytesPerToken, error: nil,
                batchedDecode: batched)
            print(String(decoding: try JSONEncoder().encode(row), as: UTF8.self))
        }

        private func measureTessera(path: String, threads: Int) throws -> BenchRow {
            let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path
            let arguments = [
                "bench", "engine", "--single", "--model", path, "--threads", "\(threads)",
                "--prompt-tokens", "\(promptTokens)", "--gen-tokens", "\(genTokens)",
                "--repetitions", "\(repetitions)",
                "--kv-cache", kvCache, "--batches", batches,
            ]
            let output = ChildProcess.run(executable, arguments)
            guard let line = output.lastJSONLine,
                let row = try? JSONDecoder().decode(BenchRow.self, from: Data(line.utf8))
            else {
                return BenchRow.failed(
                    "tessera", threads: threads, "child failed: \(output.errorSummary)")
            }
            return row
        }

        private func measureLlamaCpp(path: String, threads: Int) -> BenchRow {
            let script = scripts + "/llamacpp-bench.py"
            guard FileManager.default.fileExists(atPath: script) else {
                return BenchRow.failed("llama.cpp", threads: threads, "\(script) not found")
            }
            let output = ChildProcess.run(
                python,
                [
                    script, "--model", path, "--prompt-tokens", "\(promptTokens)", "--gen-tokens",
                    "\(genTokens)",
                    "--threads", "\(threads)", "--runs", "\(repetitions)", "--json",
                ])
            guard let line = output.lastJSONLine,
                let object = try? JSONSerialization.jsonObject(with: Data(line.utf8))
                    as? [String: Any],
                let prefill = (object["prefill_tps"] as? NSNumber)?.doubleValue,
                let decode = (object["decode_tps"] as? NSNumber)?.doubleValue
            else {
                return BenchRow.failed("llama.cpp", threads: threads, output.errorSummary)
            }
            return BenchRow(
                engine: "llama.cpp", threads: threads, prefillTPS: prefill, decodeTPS: decode,
                peakRSSBytes: (object["peak_rss_bytes"] as? NSNumber)?.intValue ?? 0,
                weightBytesPerToken: nil, error: nil)
        }

        /// Single-thread memory read bandwidth in GB/s from membw.py.
        private func measureBandwidth() -> Double? {
            let script = scripts + "/membw.py"
            guard FileManager.default.fileExists(atPath: script) else { return nil }
            let output = ChildProcess.run(python, [script, "--json"])
            guard let line = output.lastJSONLine,
                let object = try? JSONSerialization.jsonObject(with: Data(line.utf8))
                    as? [String: Any]
            else { return nil }
            return (object["read_gbps_best"] as? NSNumber)?.doubleValue
        }
    }
}

/// Runs a program to completion and keeps its output.
struct ChildProcess {
    var status: Int32
    var standardOutput: String
    var standardError: String

    static func run(_ executable: String, _ arguments: [String]) -> ChildProcess {
        let process = Process()
        process.executableURL = URL(
            fileURLWithPath: executable.contains("/") ? executable : "/usr/bin/env")
        process.arguments = executable.contains("/") ? arguments : [executable] + arguments
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        do { try process.run() } catch {
            return ChildProcess(
                status: -1, standardOutput: "",
                standardError: "could not start \(executable): \(error)")
        }
        // Drain stderr on another thread so a chatty child cannot block on a full pipe.
        let errorBox = DataBox()
        let drained = DispatchSemaphore(value: 0)
        let errorHandle = err.fileHandleForReading
        Thread {
            errorBox.data = errorHandle.readDataToEndOfFile()
            drained.signal()
        }.start()
        let outputData = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        drained.wait()
        return ChildProcess(
            status: process.terminationStatus,
            standardOutput: String(decoding: outputData, as: UTF8.self),
            standardError: String(decoding: errorBox.data, as: UTF8.self))
    }

    /// Written by the draining thread before the semaphore is signalled, read after.
    // @unchecked: one thread writes before signalling the semaphore, the other reads after
    // waiting on it; the semaphore orders the accesses.
    private final class DataBox: @unchecked Sendable {
        var data = Data()
    }

    var lastJSONLine: String? {
        standardOutput.split(separator: "\n").last { $0.hasPrefix("{") }.map(String.init)
    }

    var errorSummary: String {
        let lines = standardError.split(separator: "\n").suffix(3).joined(separator: " | ")
        return "exit \(status)" + (lines.isEmpty ? "" : ": \(lines)")
    }
}
