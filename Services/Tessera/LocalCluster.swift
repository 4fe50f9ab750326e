import Foundation
import ServiceKit

/// The child processes of `tessera up`: started with their logs in files, watched, and
/// stopped with SIGTERM (then SIGKILL after a grace period).
// @unchecked: Foundation.Process is not Sendable. The process table is filled by `start()`
// before anything else runs and only read afterwards, by the `up` command's one task.
final class LocalCluster: @unchecked Sendable {
    struct Member {
        var name: String
        var executable: String
        var arguments: [String]
        var grpc: ListenAddress
        var http: ListenAddress
    }

    struct StartFailure: Error, CustomStringConvertible {
        var description: String
    }

    let members: [Member]
    let logDirectory: String
    private var processes: [String: Process] = [:]

    init(members: [Member], logDirectory: String) {
        self.members = members
        self.logDirectory = logDirectory
    }

    func logPath(_ member: Member) -> String { "\(logDirectory)/\(member.name).log" }

    func start() throws {
        try FileManager.default.createDirectory(
            atPath: logDirectory, withIntermediateDirectories: true)
        for member in members {
            guard FileManager.default.isExecutableFile(atPath: member.executable) else {
                throw StartFailure(
                    description: "\(member.executable) not found; build with `swift build` first")
            }
            _ = FileManager.default.createFile(atPath: logPath(member), contents: nil)
            try launch(member)
        }
    }

    /// Starts a member again after it died, appending to its log (like a restart policy).
    func restart(_ member: Member) throws {
        try launch(member)
    }

    private func launch(_ member: Member) throws {
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath(member)))
        try log.seekToEnd()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: member.executable)
        process.arguments = member.arguments
        process.standardOutput = log
        process.standardError = log
        process.standardInput = FileHandle.nullDevice
        try process.run()
        processes[member.name] = process
    }

    /// Waits until every member reports SERVING; fails early if one exits.
    func waitUntilServing(timeout: Duration) async throws {
        let deadline = ContinuousClock.now + timeout
        var pending = members
        while !pending.isEmpty {
            if let dead = firstExited() {
                throw StartFailure(
                    description: "\(dead.name) exited during start-up:\n\(tail(of: dead))")
            }
            var stillPending: [Member] = []
            for member in pending where !(await HealthProbe.isServing(member.grpc)) {
                stillPending.append(member)
            }
            pending = stillPending
            if pending.isEmpty { return }
            guard ContinuousClock.now < deadline else {
                throw StartFailure(
                    description:
                        "not SERVING after \(timeout): \(pending.map(\.name).joined(separator: ", "))"
                )
            }
            try await Task.sleep(for: .milliseconds(200))
        }
    }

    func firstExited() -> Member? {
        members.first { processes[$0.name].map { !$0.isRunning } ?? false }
    }

    /// SIGTERM to all, then SIGKILL to whatever is still running after `grace`.
    func stop(grace: Duration = .seconds(10)) async {
        for process in processes.values where process.isRunning { process.terminate() }
        let deadline = ContinuousClock.now + grace
        while processes.values.contains(where: \.isRunning), ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(50))
        }
        for process in processes.values where process.isRunning {
            kill(process.processIdentifier, SIGKILL)
        }
    }

    func exitStatuses() -> [(String, Int32)] {
        members.compactMap { member in
            guard let process = processes[member.name], !process.isRunning else { return nil }
            return (member.name, process.terminationStatus)
        }
    }

    func tail(of member: Member, lines: Int = 15) -> String {
        let text = (try? String(contentsOfFile: logPath(member), encoding: .utf8)) ?? ""
        return text.split(separator: "\n").suffix(lines).joined(separator: "\n")
    }
}
