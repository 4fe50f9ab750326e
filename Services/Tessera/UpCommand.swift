import ArgumentParser
import Foundation
import ServiceKit

/// `tessera up`: one of each service plus N inference workers as child processes on
/// 127.0.0.1; waits until all are SERVING, prints where they listen, stops them on Ctrl-C.
struct UpCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "up", abstract: "Start a local cluster on 127.0.0.1 and run it until Ctrl-C.")

    @Option(help: "Number of inference workers.")
    var workers = 3
    @Option(help: "Model to import, place and serve: a known name or a GGUF path.")
    var model = "smollm2-135m"
    @Option(help: "Added to every default port, to run a second cluster beside the first.")
    var portOffset = 0
    @Option(
        help:
            "Memory budget per worker in MiB (default: half of physical memory shared by the workers)."
    )
    var workerMemoryMb: Int?
    @Option(help: "Compute threads per worker (default: cores divided among workers, at least 1).")
    var workerThreads: Int?
    @Option(help: "Directory for the services' logs (default: a new temporary directory).")
    var logDir: String?
    @Option(
        help: "Directory holding the service executables (default: next to this tessera binary).")
    var binDir: String?
    @Option(help: "Seconds to wait for every service to report SERVING.")
    var startTimeout = 120

    func validate() throws {
        guard (1...64).contains(workers) else {
            throw ValidationError("--workers must be between 1 and 64")
        }
        guard (0...50000).contains(portOffset) else {
            throw ValidationError("--port-offset must be between 0 and 50000")
        }
    }

    func run() async throws {
        let cluster = LocalCluster(
            members: plan(), logDirectory: logDir ?? Self.temporaryLogDirectory())
        let signals = SignalWatcher([SIGINT, SIGTERM])
        do {
            try cluster.start()
            try await cluster.waitUntilServing(timeout: .seconds(startTimeout))
        } catch {
            await cluster.stop()
            throw ValidationError("\(error)")
        }
        // Unbuffered, so a script reading our output through a pipe sees readiness at once.
        Self.say(Self.table(cluster))
        Self.say("cluster ready: \(cluster.members.count) processes; Ctrl-C stops them")

        // Run until a signal. A worker that dies is started again (it re-registers and the
        // scheduler uses it again, as a restart policy would); any other member dying is fatal.
        var failure: String?
        while signals.received == nil {
            if let dead = cluster.firstExited() {
                guard dead.name.hasPrefix("inference-worker") else {
                    failure = "\(dead.name) exited unexpectedly:\n\(cluster.tail(of: dead))"
                    break
                }
                Self.say("\(dead.name) exited; restarting it")
                try? await Task.sleep(for: .seconds(1))
                do { try cluster.restart(dead) } catch {
                    failure = "cannot restart \(dead.name): \(error)"
                    break
                }
            }
            try? await Task.sleep(for: .milliseconds(200))
        }
        Self.say("stopping…")
        await cluster.stop()
        for (name, status) in cluster.exitStatuses() where status != 0 {
            Self.say("\(name) exited with status \(status)")
        }
        if let failure { throw ValidationError(failure) }
        Self.say("stopped")
    }

    func plan() -> [LocalCluster.Member] {
        let bin = binDir ?? Self.executableDirectory()
        let loopback = "127.0.0.1"
        func address(_ port: Int) -> ListenAddress {
            ListenAddress(host: loopback, port: port + portOffset)
        }
        let scheduler = address(7401)
        let cacheManager = address(7402)
        func member(
            _ name: String, program: String? = nil, grpc: Int, http: Int, _ extra: [String]
        ) -> LocalCluster.Member {
            let grpcAddress = address(grpc)
            let httpAddress = address(http)
            return LocalCluster.Member(
                name: name, executable: "\(bin)/\(program ?? name)",
                arguments: [
                    "--host", loopback, "--port", "\(grpcAddress.port)", "--http-port",
                    "\(httpAddress.port)",
                ] + extra,
                grpc: grpcAddress, http: httpAddress)
        }
        // The scheduler names the model as the cache-manager records it: a known name as is,
        // a path by its file name without `.gguf`.
        let servedModel =
            model.contains("/") || model.hasSuffix(".gguf")
            ? URL(fileURLWithPath: model).deletingPathExtension().lastPathComponent : model
        let cores = ProcessInfo.processInfo.activeProcessorCount
        let threads = workerThreads ?? max(1, cores / workers)
        let memoryMb =
            workerMemoryMb
            ?? Int((ProcessInfo.processInfo.physicalMemory / 2 / UInt64(workers)) >> 20)
        var members = [
            member(
                "scheduler", grpc: 7401, http: 9401,
                ["--cache-manager", "\(cacheManager)", "--model", servedModel]),
            member("cache-manager", grpc: 7402, http: 9402, ["--preload", model]),
            member("verifier", grpc: 7403, http: 9403, []),
            member(
                "gateway", grpc: 7400, http: 8080,
                ["--scheduler", "\(scheduler)", "--cache-manager", "\(cacheManager)"]),
        ]
        for index in 0..<workers {
            members.append(
                member(
                    "inference-worker-\(index + 1)", program: "inference-worker",
                    grpc: 7410 + index, http: 9410 + index,
                    [
                        "--scheduler", "\(scheduler)", "--memory-mb", "\(memoryMb)", "--threads",
                        "\(threads)",
                        "--worker-id", "worker-\(index + 1)",
                    ]))
        }
        return members
    }

    static func table(_ cluster: LocalCluster) -> String {
        var lines = ["SERVICE               GRPC              HTTP              LOG"]
        for member in cluster.members {
            lines.append(
                member.name.padding(toLength: 22, withPad: " ", startingAt: 0)
                    + member.grpc.description.padding(toLength: 18, withPad: " ", startingAt: 0)
                    + member.http.description.padding(toLength: 18, withPad: " ", startingAt: 0)
                    + cluster.logPath(member))
        }
        return lines.joined(separator: "\n")
    }

    static func say(_ line: String) {
        FileHandle.standardOutput.write(Data((line + "\n").utf8))
    }

    static func executableDirectory() -> String {
        let path = Bundle.main.executablePath ?? CommandLine.arguments[0]
        return URL(fileURLWithPath: path).resolvingSymlinksInPath().deletingLastPathComponent().path
    }

    static func temporaryLogDirectory() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("tessera-up-\(getpid())").path
    }
}
