import ArgumentParser
import GRPCCore
import ServiceKit
import TesseraProto

extension WorkerCommand {
    /// `tessera worker revoke ID`: the worker's certificate stops working everywhere (every
    /// service refuses a certificate named in the cluster's revocation list) and the
    /// scheduler drops the worker at once, so it leaves every plan and cannot come back.
    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Revoke a worker's certificate and drop the worker from the scheduler.",
            discussion: """
                ID is the worker's certificate name (`tessera up` names each worker's \
                certificate after its worker id). The name is added to `revoked` in the \
                certificate directory, which every service of the cluster reads.
                """)

        @Argument(help: "The worker id (its certificate's name).")
        var id: String
        @Option(
            help:
                "Scheduler address host:port (default: env TESSERA_SCHEDULER_ADDRESS, else 127.0.0.1:7401)."
        )
        var scheduler: ListenAddress?
        @OptionGroup var offset: PortOffsetOption

        func validate() throws {
            try offset.check(explicit: scheduler, flag: "--scheduler")
        }

        func run() async throws {
            guard let directory = offset.certificateDirectory else {
                throw CLIError(
                    "no certificate directory: give --tls-dir (the cluster's, holding ca.pem)")
            }
            let list = CertificateDirectory(path: directory).revocationListPath
            do {
                try RevocationList.revoke(id, at: list)
            } catch {
                throw CLIError("cannot write \(list): \(error)")
            }
            print("revoked the certificate \(id) (\(list))")
            try offset.installSecurity()
            let id = self.id
            let scheduler = offset.address(
                scheduler, environment: "TESSERA_SCHEDULER_ADDRESS", defaultPort: 7401)
            do {
                try await ServiceClient.with(scheduler) { client in
                    _ = try await Tessera_V1_Scheduler.Client(wrapping: client).removeWorker(
                        .with { $0.workerID = id }, options: .timeout(.seconds(10)))
                }
                print("dropped \(id) at the scheduler")
            } catch let error as RPCError where error.code == .notFound {
                print("the scheduler does not know \(id)")
            } catch {
                throw CLIError("cannot drop \(id) at the scheduler \(scheduler): \(error)")
            }
        }
    }
}
