import Foundation
import ServiceKit

/// The child processes of `tessera up`: each member's command line, its current process, its
/// log file (appended to across restarts), and the signals that stop it.
// @unchecked: Foundation.Process is not Sendable. The process table is only touched by the
// `up` command's one task (start, supervision, drain run one after another on it).
final class LocalCluster: @unchecked Sendable {
    struct Member {
        var name: String
        var executable: String
        var arguments: [String]
        var grpc: ListenAddress
        var http: ListenAddress
        /// The operators' HTTP port, for a member that has its own (the gateway).
        var ops: ListenAddress?
        /// The worker enrollment port, for the member that has one (the scheduler under TLS).
        var enrollment: ListenAddress?
    }

    /// How a member's process ended.
    struct Exit: CustomStringConvertible {
        var status: Int32
        var signaled: Bool
        var ranFor: Duration

        var description: String {
            signaled ? "killed by signal \(status)" : "exited with status \(status)"
        }
    }

    let members: [Member]
    let logDirectory: String
    private var processes: [String: Process] = [:]
    private var startedAt: [String: ContinuousClock.Instant] = [:]

    init(members: [Member], logDirectory: String) {
        self.members = members
        self.logDirectory = logDirectory
    }

    func logPath(_ member: Member) -> String { "\(logDirectory)/\(member.name).log" }

    /// Fails with one line naming the first busy port, before anything is started: a port
    /// already served (say, by a first cluster) would answer our readiness checks for us.
    func checkPortsFree() throws {
        for member in members {
            let listeners =
                [(member.grpc, "gRPC"), (member.http, "HTTP")]
                + (member.ops.map { [($0, "operations HTTP")] } ?? [])
                + (member.enrollment.map { [($0, "enrollment")] } ?? [])
            for (address, kind) in listeners
            where !PortCheck.isFree(host: address.host, port: address.port) {
                throw CLIError("port \(address.port) (\(member.name) \(kind)) is in use")
            }
        }
    }

    func start() throws {
        try FileManager.default.createDirectory(
            atPath: logDirectory, withIntermediateDirectories: true)
        for member in members {
            guard FileManager.default.isExecutableFile(atPath: member.executable) else {
                throw CLIError("\(member.executable) not found; build with `swift build` first")
            }
        }
        for member in members {
            _ = FileManager.default.createFile(atPath: logPath(member), contents: nil)
            try launch(member)
        }
    }

    /// Starts `member` (again, after it died) with the same arguments, appending to its log.
    func launch(_ member: Member) throws {
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath(member)))
        try log.seekToEnd()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: member.executable)
        process.arguments = member.arguments
        process.standardOutput = log
        process.standardError = log
        process.standardInput = FileHandle.nullDevice
        try process.run()
        try? log.close()
        processes[member.name] = process
        startedAt[member.name] = .now
    }

    func isRunning(_ member: Member) -> Bool {
        processes[member.name]?.isRunning ?? false
    }

    func pid(_ member: Member) -> Int32? { processes[member.name]?.processIdentifier }

    /// How the member's current process ended; nil while it runs.
    func exit(of member: Member) -> Exit? {
        guard let process = processes[member.name], !process.isRunning else { return nil }
        return Exit(
            status: process.terminationStatus,
            signaled: process.terminationReason == .uncaughtSignal,
            ranFor: startedAt[member.name].map { .now - $0 } ?? .zero)
    }

    /// Waits until every member reports SERVING — from the very process we started: the
    /// child must still be alive after its port answered (the ports were free before we
    /// started, so what answers is ours). Fails early if a member exits; returns early when
    /// `interrupted()` says so (Ctrl-C during start-up).
    func waitUntilServing(timeout: Duration, interrupted: () -> Bool) async throws {
        let deadline = ContinuousClock.now + timeout
        var pending = members
        while !pending.isEmpty, !interrupted() {
            if let dead = members.first(where: { exit(of: $0) != nil }), let how = exit(of: dead) {
                throw CLIError(
                    "\(dead.name) \(how) during start-up: \(lastLine(of: dead)) (log: \(logPath(dead)))"
                )
            }
            var stillPending: [Member] = []
            for member in pending {
                let serving = await HealthProbe.isServing(member.grpc)
                if !(serving && isRunning(member)) { stillPending.append(member) }
            }
            pending = stillPending
            if pending.isEmpty { return }
            guard ContinuousClock.now < deadline else {
                throw CLIError(
                    "not SERVING after \(timeout): \(pending.map(\.name).joined(separator: ", ")) (logs in \(logDirectory))"
                )
            }
            try await Task.sleep(for: .milliseconds(200))
        }
    }

    func signal(_ member: Member, _ number: Int32) {
        guard let process = processes[member.name], process.isRunning else { return }
        kill(process.processIdentifier, number)
    }

    /// SIGTERM to `stopping`, then SIGKILL to whatever of them still runs after `grace`.
    func stop(_ stopping: [Member], grace: Duration) async {
        for member in stopping { signal(member, SIGTERM) }
        let deadline = ContinuousClock.now + grace
        while stopping.contains(where: isRunning), ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(50))
        }
        for member in stopping { signal(member, SIGKILL) }
        while stopping.contains(where: isRunning) {
            try? await Task.sleep(for: .milliseconds(20))
        }
    }

    func lastLine(of member: Member) -> String {
        let text = (try? String(contentsOfFile: logPath(member), encoding: .utf8)) ?? ""
        return text.split(separator: "\n").last.map(String.init) ?? "(no output)"
    }
}
