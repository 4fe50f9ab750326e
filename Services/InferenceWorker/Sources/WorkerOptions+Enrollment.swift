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
                requestedName: workerId)
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
}
