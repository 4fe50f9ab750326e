import ArgumentParser
import Foundation
import ServiceKit

/// `tessera up`: one of each service plus N inference workers as child processes on
/// 127.0.0.1. It checks that every port is free, waits until all are SERVING, prints where
/// they listen, restarts any that dies, and on Ctrl-C drains the gateway before the rest.
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
    @Option(
        help:
            "Sessions each worker serves at once, its --max-sessions (default: derived from its memory)."
    )
    var workerMaxSessions: Int?
    @Option(
        help:
            "Requests the gateway lets wait for a session slot, its --max-queued (default: 64).")
    var maxQueued: Int?
    @Option(
        name: .customLong("max-queue-wait-s"),
        help: "Seconds a request may wait for a session slot, the gateway's --max-queue-wait-s.")
    var maxQueueWait: Double?
    @Option(help: "Directory for the services' logs (default: a new temporary directory).")
    var logDir: String?
    @Option(
        help:
            "Directory for the workers' shards, one subdirectory per worker, kept across restarts (default: env TESSERA_SHARD_DIR, else $TMPDIR/tessera-shards)."
    )
    var shardDir: String?
    @Option(
        help:
            "Directory for the services' state kept across restarts: worker and verifier keys, the verifier's database (default: ~/.cache/tessera/up-<port offset>)."
    )
    var stateDir: String?
    @Option(
        help: "Directory holding the service executables (default: next to this tessera binary).")
    var binDir: String?
    @Option(help: "Seconds to wait for every service to report SERVING.")
    var startTimeout = 120
    @Option(
        name: .customLong("drain-timeout-s"),
        help: "On Ctrl-C, seconds the gateway may take to finish its in-flight requests.")
    var drainTimeout = 30
    @Option(
        name: .customLong("stop-grace-s"),
        help: "Seconds the other services get to stop after SIGTERM before SIGKILL.")
    var stopGrace = 10
    @OptionGroup(title: "Security") var security: SecurityOptions

    func validate() throws {
        guard (1...64).contains(workers) else {
            throw ValidationError("--workers must be between 1 and 64")
        }
        guard (0...50000).contains(portOffset) else {
            throw ValidationError("--port-offset must be between 0 and 50000")
        }
        guard (workerMaxSessions ?? 0) >= 0, (maxQueued ?? 0) >= 0, (maxQueueWait ?? 1) > 0 else {
            throw ValidationError(
                "--worker-max-sessions and --max-queued must not be negative, --max-queue-wait-s must be positive"
            )
        }
        guard drainTimeout >= 0, stopGrace >= 0 else {
            throw ValidationError("--drain-timeout-s and --stop-grace-s must not be negative")
        }
    }

    func run() async throws {
        let cluster = LocalCluster(
            members: plan(), logDirectory: logDir ?? Self.temporaryLogDirectory())
        // Before anything starts: a busy port is one clear line, and nothing to clean up.
        try cluster.checkPortsFree()
        try prepareSecurity(for: cluster.members)
        // The gateway requires keys: the local user gets one, kept across restarts.
        let apiKey = try LocalAPIKey.prepare(
            stateDirectory: stateDir
                ?? ClusterCertificates.defaultStateDirectory(portOffset: portOffset))
        let signals = SignalWatcher([SIGINT, SIGTERM])
        do {
            try cluster.start()
            try await cluster.waitUntilServing(timeout: .seconds(startTimeout)) {
                signals.count > 0
            }
        } catch {
            await cluster.stop(cluster.members, grace: .seconds(stopGrace))
            throw error
        }
        if signals.count == 0 {
            // Unbuffered, so a script reading our output through a pipe sees readiness at once.
            Self.say(Self.table(cluster))
            Self.say(
                "gateway operations (/metrics, /healthz, /readyz, no key): http://127.0.0.1:\(9400 + portOffset)"
            )
            Self.say("api key: \(apiKey)")
            Self.say("cluster ready: \(cluster.members.count) processes; Ctrl-C stops them")
        }

        // Run until a signal, restarting whatever dies; the others keep running.
        var supervisor = Supervisor()
        while signals.count == 0 {
            supervisor.tick(cluster, say: Self.say)
            try? await Task.sleep(for: .milliseconds(100))
        }
        await drain(cluster, signals: signals)
        for member in cluster.members {
            if let exit = cluster.exit(of: member), exit.signaled || exit.status != 0 {
                Self.say("\(member.name) \(exit)")
            }
        }
        Self.say("stopped")
    }

    /// The gateway first: SIGTERM makes it refuse new requests and finish the streams in
    /// flight, which still need the workers and the scheduler, so those stop only after it
    /// exits (or after the drain timeout, or at a second Ctrl-C).
    private func drain(_ cluster: LocalCluster, signals: SignalWatcher) async {
        let gateways = cluster.members.filter { $0.name == "gateway" }
        let started = ContinuousClock.now
        if let gateway = gateways.first, cluster.isRunning(gateway) {
            Self.say("draining the gateway (up to \(drainTimeout) s)…")
            cluster.signal(gateway, SIGTERM)
            let deadline = started + .seconds(drainTimeout)
            while cluster.isRunning(gateway), ContinuousClock.now < deadline, signals.count < 2 {
                try? await Task.sleep(for: .milliseconds(50))
            }
            if cluster.isRunning(gateway) {
                Self.say("the gateway is still draining; stopping it")
            } else {
                Self.say(
                    "gateway drained in \(String(format: "%.1f", (ContinuousClock.now - started).inSeconds)) s"
                )
            }
        }
        Self.say("stopping the other services…")
        await cluster.stop(cluster.members, grace: .seconds(stopGrace))
    }

    func plan() -> [LocalCluster.Member] {
        let bin = binDir ?? Self.executableDirectory()
        let loopback = "127.0.0.1"
        func address(_ port: Int) -> ListenAddress {
            ListenAddress(host: loopback, port: port + portOffset)
        }
        let scheduler = address(7401)
        let cacheManager = address(7402)
        let verifier = address(7403)
        let gateway = address(7400)
        // $HOME first, as the services do (Foundation on Linux reads only the passwd entry).
        let home = ProcessInfo.processInfo.environment["HOME"] ?? NSHomeDirectory()
        let state = stateDir ?? "\(home)/.cache/tessera/up-\(portOffset)"
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
        // Each worker its own subdirectory under one root, the same at every restart, so a
        // restarted worker finds the shards it had.
        let shards =
            shardDir
            ?? EnvironmentDefaults.string(
                "TESSERA_SHARD_DIR",
                FileManager.default.temporaryDirectory.appendingPathComponent("tessera-shards").path
            )
        let cores = ProcessInfo.processInfo.activeProcessorCount
        let threads = workerThreads ?? max(1, cores / workers)
        let memoryMb =
            workerMemoryMb
            ?? Int((ProcessInfo.processInfo.physicalMemory / 2 / UInt64(workers)) >> 20)
        var members = [
            member(
                "scheduler", grpc: 7401, http: 9401,
                [
                    "--cache-manager", "\(cacheManager)", "--model", servedModel, "--verifier",
                    "\(verifier)",
                ]),
            member("cache-manager", grpc: 7402, http: 9402, ["--preload", model]),
            member(
                "verifier", grpc: 7403, http: 9403,
                [
                    "--cache-manager", "\(cacheManager)", "--gateway", "\(gateway)", "--state-dir",
                    "\(state)/verifier",
                    // Its canaries are requests like a user's: they need the key too.
                    "--gateway-api-key-file", LocalAPIKey.keyFile(stateDirectory: state),
                ]),
            member(
                "gateway", grpc: 7400, http: 8080,
                [
                    "--scheduler", "\(scheduler)", "--cache-manager", "\(cacheManager)",
                    "--verifier", "\(verifier)",
                    "--keys-db", LocalAPIKey.storePath(stateDirectory: state),
                    "--ops-port", "\(9400 + portOffset)",
                ] + admissionArguments),
        ]
        // Checked free with the others before anything starts.
        for index in members.indices where members[index].name == "gateway" {
            members[index].ops = address(9400)
        }
        for index in 0..<workers {
            members.append(
                member(
                    "inference-worker-\(index + 1)", program: "inference-worker",
                    grpc: 7410 + index, http: 9410 + index,
                    [
                        "--scheduler", "\(scheduler)", "--cache-manager", "\(cacheManager)",
                        "--memory-mb", "\(memoryMb)", "--threads",
                        "\(threads)",
                        "--worker-id", "worker-\(index + 1)",
                        "--shard-dir", "\(shards)/worker-\(index + 1)",
                        "--state-dir", "\(state)/worker-\(index + 1)", "--verifier", "\(verifier)",
                    ] + (workerMaxSessions.map { ["--max-sessions", "\($0)"] } ?? [])))
        }
        return members.map { member in
            var member = member
            member.enrollment = enrollmentAddress(for: member)
            member.arguments += securityArguments(for: member)
            return member
        }
    }

    /// The gateway's admission settings, when given here (else its own defaults and env).
    private var admissionArguments: [String] {
        (maxQueued.map { ["--max-queued", "\($0)"] } ?? [])
            + (maxQueueWait.map { ["--max-queue-wait-s", "\($0)"] } ?? [])
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
