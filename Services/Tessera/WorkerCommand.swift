import ArgumentParser
import GRPCCore
import ServiceKit
import TesseraProto

/// `tessera worker remove ID`: an operator forgets a worker at the scheduler and unpins its
/// signing key at the verifier, so the id may register again with a new key (a machine that
/// was reinstalled). Its history and ledger stay at the verifier.
struct WorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker", abstract: "Manage workers.", subcommands: [Remove.self, Revoke.self])

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Forget a worker and unpin its signing key (scheduler and verifier).")

        @Argument(help: "The worker id.")
        var id: String
        @Option(
            help:
                "Scheduler address host:port (default: env TESSERA_SCHEDULER_ADDRESS, else 127.0.0.1:7401)."
        )
        var scheduler: ListenAddress?
        @OptionGroup var verifier: VerifierAddressOption

        func validate() throws {
            try verifier.offset.check(explicit: scheduler, flag: "--scheduler")
        }

        func run() async throws {
            let id = self.id
            try verifier.offset.installSecurity()
            let scheduler = verifier.offset.address(
                scheduler, environment: "TESSERA_SCHEDULER_ADDRESS", defaultPort: 7401)
            var done: [String] = []
            do {
                try await ServiceClient.with(scheduler) { client in
                    _ = try await Tessera_V1_Scheduler.Client(wrapping: client).removeWorker(
                        .with { $0.workerID = id }, options: .timeout(.seconds(5)))
                }
                done.append("scheduler")
            } catch let error as RPCError where error.code == .notFound {
                print("the scheduler does not know \(id)")
            } catch {
                throw CLIError("cannot remove \(id) at the scheduler \(scheduler): \(error)")
            }
            do {
                _ = try await verifier.call { client in
                    try await client.removeWorker(
                        .with { $0.workerID = id }, options: .timeout(.seconds(5)))
                }
                done.append("verifier")
            } catch let error as CLIError where error.description.contains("notFound") {
                print("the verifier does not know \(id)")
            }
            print(
                "removed \(id)"
                    + (done.isEmpty
                        ? " nowhere" : " from the " + done.joined(separator: " and the ")))
        }
    }
}
