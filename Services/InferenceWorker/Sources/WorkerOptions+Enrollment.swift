import Foundation
import ServiceKit

extension WorkerOptions {
    /// These options after enrolling with `--join-token` (when given): the issued certificate
    /// is written into `--tls-dir` and used as `--tls-name`, and it names the worker unless
    /// `--worker-id` does. Without a token, the options as they are. A failed enrollment
    /// ends the process with one line saying why (exit 1), before anything is started.
    public func enrolled() async -> WorkerOptions {
        guard !joinToken.isEmpty else { return self }
        do {
            let token = try JoinToken(parsing: joinToken)
            guard let enrollAddress else {
                throw ServiceError.configuration(
                    "--join-token needs --enroll-address HOST:PORT (the scheduler's enrollment port)"
                )
            }
            guard !service.security.tlsDir.isEmpty else {
                throw ServiceError.configuration(
                    "--join-token needs --tls-dir DIR, where the issued certificate is kept")
            }
            let name = try await WorkerEnrollment.enroll(
                token: token, server: enrollAddress,
                directory: CertificateDirectory(path: service.security.tlsDir),
                requestedName: workerId, alternativeNames: enrollmentNames)
            var options = self
            options.service.security.tlsName = name
            if options.workerId.isEmpty { options.workerId = name }
            FileHandle.standardError.write(
                Data("inference-worker: enrolled as '\(name)' via \(enrollAddress)\n".utf8))
            return options
        } catch {
            FileHandle.standardError.write(
                Data("inference-worker: error: enrollment: \(error)\n".utf8))
            Foundation.exit(1)
        }
    }

    /// The names peers will dial this worker at, for its enrolled certificate: the advertised
    /// host, the bind host (unless it binds every address), every `--san`, and the machine's
    /// host name (left out when it is no valid DNS name: nobody asked for it explicitly).
    var enrollmentNames: [String] {
        var names: [String] = []
        if !advertiseHost.isEmpty { names.append(advertiseHost) }
        if service.host != "0.0.0.0", service.host != "::" { names.append(service.host) }
        names += san.filter { !$0.isEmpty }
        let hostName = ProcessInfo.processInfo.hostName
        if (try? EnrollmentNames.check(hostName)) != nil { names.append(hostName) }
        return names
    }
}
