import ArgumentParser
import Foundation

extension BenchCommand {
    /// `tessera bench serve`: a Tessera cluster of 1, 2 and 3 stages against llama.cpp's
    /// `llama-server` on the same model, prompts and thread count, over both OpenAI APIs. The
    /// measuring is `scripts/bench/serve-bench.py` (it starts and stops clusters and servers,
    /// which a script does more plainly); this command checks the options, points the script
    /// at the services built beside this executable, and passes the options through.
    struct ServeBench: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "serve",
            abstract:
                "Compare serving throughput and latency (1-3 stages) with llama.cpp's llama-server.",
            discussion: """
                Prints, per row, aggregate tokens/s, time to first token and inter-token latency \
                p50/p99, errors and RSS, then Tessera/llama-server ratios; writes serve-bench.json \
                and serve-bench.svg to --out. Build llama-server first with \
                scripts/bench/build-llama-server (it prints the path). Run from the repository root \
                (or pass --scripts), with a release build.
                """)

        @Option(help: "Comma-separated Tessera stage counts, each 1, 2 or 3.")
        var stages = "1,2,3"
        @Option(help: "Comma-separated counts of concurrent client streams.")
        var streams = "1,4,16,32"
        @Option(
            help: "Generated tokens per request: N, or MIN-MAX to spread requests over the range.")
        var tokens = "64-128"
        @Option(help: "Requests per row for each stream (at least one per prompt).")
        var requestsPerStream = 2
        @Option(
            help:
                "llama-server binary (default: env TESSERA_LLAMA_SERVER, else build-llama-server's path)."
        )
        var llamaServer: String?
        @Option(
            help:
                "llama-server's threads in every row (default: the stage count it is compared with)."
        )
        var llamaThreads: Int?
        @Option(
            help: "Also run this many sequential short sessions on one stage, RSS sampled (0: off)."
        )
        var churn = 0
        @Option(help: "Directory for the results and logs (default: a new temporary directory).")
        var out: String?
        @Option(
            parsing: .unconditionalSingleValue,
            help:
                "One more argument for `tessera up`, repeatable (--up-arg --worker-max-sessions=32)."
        )
        var upArg: [String] = []
        @Flag(help: "Only measure Tessera.")
        var skipLlamaServer = false
        @Option(help: "Python interpreter for the script.")
        var python = "python3"
        @Option(help: "Folder holding serve-bench.py.")
        var scripts = "scripts/bench"

        func validate() throws {
            let stageCounts = try EngineBench.positiveList(stages, option: "--stages")
            guard !stageCounts.isEmpty, stageCounts.allSatisfy({ (1...3).contains($0) }) else {
                throw ValidationError("--stages takes stage counts 1, 2 or 3, for example 1,2,3")
            }
            guard !(try EngineBench.positiveList(streams, option: "--streams")).isEmpty else {
                throw ValidationError("--streams needs at least one count")
            }
            let parts = tokens.split(separator: "-", omittingEmptySubsequences: false)
            let bounds = parts.compactMap { Int($0) }
            guard (1...2).contains(parts.count), bounds.count == parts.count,
                let low = bounds.first, let high = bounds.last, low > 0, low <= high
            else {
                throw ValidationError(
                    "--tokens takes N or MIN-MAX with 0 < MIN <= MAX, for example 64-128")
            }
            guard requestsPerStream > 0, llamaThreads.map({ $0 > 0 }) ?? true, churn >= 0 else {
                throw ValidationError(
                    "--requests-per-stream and --llama-threads must be positive, --churn not negative"
                )
            }
            if let llamaServer, !FileManager.default.isExecutableFile(atPath: llamaServer) {
                throw ValidationError(
                    "--llama-server: no executable at \(llamaServer) (build one with scripts/bench/build-llama-server)"
                )
            }
        }

        func run() throws {
            let script = scripts + "/serve-bench.py"
            guard FileManager.default.fileExists(atPath: script) else {
                throw CLIError(
                    "\(script) not found: run from the repository root or pass --scripts DIR")
            }
            // The services the script starts (`tessera up`) are the ones built with this tessera.
            let binDirectory = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
                .deletingLastPathComponent().path
            var arguments = [
                script, "--bin", binDirectory, "--stages", stages, "--streams", streams,
                "--tokens", tokens, "--requests-per-stream", "\(requestsPerStream)",
                "--churn", "\(churn)",
            ]
            if let llamaServer { arguments += ["--llama-server", llamaServer] }
            if let llamaThreads { arguments += ["--llama-threads", "\(llamaThreads)"] }
            if let out { arguments += ["--out", out] }
            if skipLlamaServer { arguments.append("--skip-llama-server") }
            // With '=', argparse takes a value that itself starts with '--'.
            arguments += upArg.map { "--up-arg=\($0)" }

            // Output goes straight to the terminal: the run takes minutes and reports as it goes.
            let process = Process()
            process.executableURL = URL(
                fileURLWithPath: python.contains("/") ? python : "/usr/bin/env")
            process.arguments = python.contains("/") ? arguments : [python] + arguments
            do { try process.run() } catch {
                throw CLIError("could not start \(python): \(error)")
            }
            process.waitUntilExit()
            if process.terminationStatus != 0 { throw ExitCode(process.terminationStatus) }
        }
    }
}
