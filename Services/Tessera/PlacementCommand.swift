import ArgumentParser
import ServiceKit
import TesseraProto

/// `tessera placement`: the scheduler's current plan; `tessera placement bench`: time the optimizer.
struct PlacementCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "placement", abstract: "Show the current shard placement plan.",
        subcommands: [Show.self, PlacementBenchCommand.self], defaultSubcommand: Show.self)

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Print pipelines: worker, layer range, shard bytes, predicted ms per token per stage."
        )

        @Option(
            help:
                "Scheduler address host:port (default: env TESSERA_SCHEDULER_ADDRESS, else 127.0.0.1:7401)."
        )
        var scheduler: ListenAddress?
        @OptionGroup var offset: PortOffsetOption
        @Option(help: "Model name or SHA-256 (default: the scheduler's default model).")
        var model = ""

        func validate() throws {
            try offset.check(explicit: scheduler, flag: "--scheduler")
        }

        func run() async throws {
            try offset.installSecurity()
            let scheduler = offset.address(
                scheduler, environment: "TESSERA_SCHEDULER_ADDRESS", defaultPort: 7401)
            let response: Tessera_V1_GetPlacementResponse
            do {
                response = try await ServiceClient.with(scheduler) { client in
                    try await Tessera_V1_Scheduler.Client(wrapping: client)
                        .getPlacement(.with { $0.model = model }, options: .timeout(.seconds(10)))
                }
            } catch {
                throw CLIError(
                    "cannot get the plan from the scheduler at \(scheduler): \(error)")
            }
            print(response.summary)
        }
    }
}
