import ArgumentParser
import Foundation
import ServiceKit

/// `tessera certs join-token`: a one-time token with which a new machine gets a worker
/// certificate from the scheduler's enrollment port, so the CA key never has to be copied to
/// it (docs/security.md, "Enrolling workers"). Written to the token store beside the CA key,
/// which the scheduler reads; printed once, kept only as a hash.
struct JoinTokenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "join-token",
        abstract: "Make a one-time token a new worker exchanges for its certificate.",
        discussion: """
            Run it where the CA key is (the scheduler's --tls-dir; for `tessera up`, \
            <state dir>/tls, found by itself). On the new machine: inference-worker \
            --join-token TOKEN --enroll-address SCHEDULER:PORT --tls-dir DIR. The token \
            carries the CA's SHA-256, so the worker checks whom it enrolls with.
            """)

    @Option(
        help: ArgumentHelp(
            "Directory holding the CA (ca.pem, ca.key); default: env TESSERA_TLS_DIR, else the `tessera up` cluster's.",
            valueName: "dir"))
    var dir: String?
    @Option(help: "Added to the default port: the `tessera up --port-offset N` cluster's CA.")
    var portOffset = 0
    @Option(help: "How long the token can be used: e.g. 30m, 1h (default), 7d; at most 30d.")
    var expires = "1h"
    @Option(
        help:
            "The certificate name (worker id) the token enrolls; default: the name the worker asks for (its --worker-id)."
    )
    var name: String?

    func validate() throws {
        guard let seconds = Self.seconds(expires), seconds > 0, seconds <= 30 * 86400 else {
            throw ValidationError(
                "--expires must be a positive duration of at most 30d, such as 90s, 30m, 1h or 7d")
        }
    }

    var directoryPath: String {
        if let dir { return dir }
        let environment = EnvironmentDefaults.string("TESSERA_TLS_DIR", "")
        if !environment.isEmpty { return environment }
        return ClusterCertificates.directory(
            stateDirectory: ClusterCertificates.defaultStateDirectory(portOffset: portOffset))
    }

    func run() throws {
        let directory = CertificateDirectory(path: directoryPath)
        guard directory.hasAuthorityKey else {
            throw CLIError(
                "no CA key in \(directory.path): give --dir with the directory holding ca.key")
        }
        let lifetime = TimeInterval(Self.seconds(expires)!)
        let token: JoinToken
        do {
            token = try JoinTokenStore(directory: directory).create(name: name, lifetime: lifetime)
        } catch {
            throw CLIError("cannot make a join token: \(error)")
        }
        let until = ISO8601DateFormatter().string(from: Date().addingTimeInterval(lifetime))
        print("join token: \(token)")
        print("id \(token.id), one use, expires \(until)\(name.map { ", enrolls '\($0)'" } ?? "")")
    }

    /// `90s`, `30m`, `1h`, `7d` (or plain seconds) in seconds.
    static func seconds(_ text: String) -> Int? {
        let units: [Character: Int] = ["s": 1, "m": 60, "h": 3600, "d": 86400]
        guard let last = text.last else { return nil }
        if let unit = units[last] {
            return Int(text.dropLast()).map { $0 * unit }
        }
        return Int(text)
    }
}
