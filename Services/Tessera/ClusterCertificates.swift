import Foundation
import ServiceKit

/// The certificates of a `tessera up` cluster: a CA of its own in `<state dir>/tls`, made on
/// first start and kept across restarts, and one certificate per member (the workers each
/// under their worker id) plus `operator` for the CLI commands that talk to the cluster.
enum ClusterCertificates {
    static func directory(stateDirectory: String) -> String { "\(stateDirectory)/tls" }

    /// The `up-<port offset>` state directory the CLI commands look in when no --tls-dir is given.
    static func defaultStateDirectory(portOffset: Int) -> String {
        // $HOME first, as the services do (Foundation on Linux reads only the passwd entry).
        let home = ProcessInfo.processInfo.environment["HOME"] ?? NSHomeDirectory()
        return "\(home)/.cache/tessera/up-\(portOffset)"
    }

    /// Makes whatever is missing: the CA, then each holder's certificate.
    static func prepare(_ path: String, holders: [(role: ServiceRole, name: String)]) throws {
        let directory = CertificateDirectory(path: path)
        do {
            if !directory.hasAuthority { try directory.createAuthority() }
            for holder in holders where !directory.hasCertificate(holder.name) {
                try directory.issue(role: holder.role, name: holder.name)
            }
        } catch {
            throw CLIError("cannot prepare the cluster's certificates in \(path): \(error)")
        }
    }

    /// The role a member of `tessera up` runs as, and the certificate name it uses.
    static func holder(of member: LocalCluster.Member) -> (role: ServiceRole, name: String) {
        if let index = member.arguments.firstIndex(of: "--worker-id"),
            index + 1 < member.arguments.count
        {
            return (.worker, member.arguments[index + 1])
        }
        return (ServiceRole(rawValue: member.name) ?? .operator, member.name)
    }
}

extension UpCommand {
    /// `--tls-dir` if given, else `tls` in the state directory.
    var certificateDirectory: String {
        if !security.tlsDir.isEmpty { return security.tlsDir }
        return ClusterCertificates.directory(
            stateDirectory: stateDir
                ?? ClusterCertificates.defaultStateDirectory(portOffset: portOffset))
    }

    var runsInsecure: Bool {
        security.insecure || EnvironmentDefaults.string("TESSERA_INSECURE", "") == "1"
    }

    /// What a member is told about TLS: its certificate, or plaintext when `up` was asked for
    /// it; the scheduler also where new workers enroll (it holds the CA key in this directory).
    func securityArguments(for member: LocalCluster.Member) -> [String] {
        if runsInsecure { return ["--insecure"] }
        return [
            "--tls-dir", certificateDirectory, "--tls-name",
            ClusterCertificates.holder(of: member).name,
        ] + (enrollmentAddress(for: member).map { ["--enrollment-port", "\($0.port)"] } ?? [])
    }

    /// The scheduler's enrollment port under TLS: 7404 plus the port offset, on loopback.
    func enrollmentAddress(for member: LocalCluster.Member) -> ListenAddress? {
        guard !runsInsecure, member.name == "scheduler" else { return nil }
        return ListenAddress(host: member.grpc.host, port: 7404 + portOffset)
    }

    /// Makes the missing certificates and has this process (its health checks) use the
    /// operator's; or warns that the cluster runs in plaintext.
    func prepareSecurity(for members: [LocalCluster.Member]) throws {
        if runsInsecure {
            UpCommand.say(
                "warning: --insecure: plaintext gRPC between services, no certificates, no role checks"
            )
            ClusterSecurity.processWide = .insecure
            return
        }
        let path = certificateDirectory
        try ClusterCertificates.prepare(
            path, holders: members.map(ClusterCertificates.holder(of:)) + [(.operator, "operator")])
        do {
            ClusterSecurity.processWide = .mutualTLS(
                try CertificateDirectory(path: path).material(for: "operator"))
        } catch {
            throw CLIError("cannot read the operator certificate in \(path): \(error)")
        }
        UpCommand.say("mutual TLS: certificates in \(path) (operator certificate: operator.pem)")
        if let scheduler = members.first(where: { $0.name == "scheduler" }),
            let enrollment = enrollmentAddress(for: scheduler)
        {
            UpCommand.say(
                "worker enrollment: \(enrollment) (tokens from `tessera certs join-token`)")
        }
    }
}
