import ArgumentParser
import Foundation
import GRPCCore
import ServiceKit
import TesseraProto

/// `tessera model serve NAME [--pin N] [--idle-timeout-s S]` and `tessera model unserve NAME`:
/// mark a catalog model servable by the scheduler (or not). The scheduler checks that the
/// model fits on its workers first and refuses with the reason when it does not.
struct ModelServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Let the scheduler serve a model of the catalog beside its default one.")

    @Argument(help: "The model's name (or SHA-256) in the cache-manager's catalog.")
    var name: String
    @Option(help: "Keep it warm with at least this many pipelines (0: not pinned).")
    var pin = 0
    @Option(
        help: "Evict it after this many seconds without a request (0: the scheduler's default).")
    var idleTimeoutS = 0
    @OptionGroup var scheduler: SchedulerAddressOption

    func validate() throws {
        try scheduler.validate()
        guard (0...64).contains(pin) else { throw ValidationError("--pin must be 0...64") }
        guard idleTimeoutS >= 0 else {
            throw ValidationError("--idle-timeout-s must not be negative")
        }
    }

    func run() async throws {
        let state = try await ServeModelCall.send(
            .with {
                $0.model = name
                $0.servable = true
                $0.pinReplicas = UInt32(pin)
                $0.idleTimeoutS = UInt32(clamping: idleTimeoutS)
            }, scheduler: scheduler)
        print(
            "serving \(name): \(state.state)"
                + (pin > 0 ? ", pinned to \(pin) pipeline(s)" : "")
                + ", idle timeout \(state.idleTimeoutS) s")
    }
}

struct ModelUnserveCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "unserve",
        abstract: "Stop serving a model (its pipelines drain, then its shards are unloaded).")

    @Argument(help: "The model's name (or SHA-256).")
    var name: String
    @OptionGroup var scheduler: SchedulerAddressOption

    func run() async throws {
        _ = try await ServeModelCall.send(
            .with {
                $0.model = name
                $0.servable = false
            }, scheduler: scheduler)
        print("no longer serving \(name)")
    }
}

/// The scheduler's `ServeModel`, with its refusals as one-line CLI errors.
enum ServeModelCall {
    static func send(
        _ request: Tessera_V1_ServeModelRequest, scheduler: SchedulerAddressOption
    ) async throws -> Tessera_V1_ModelServingState {
        let address = try scheduler.resolve()
        do {
            return try await ServiceClient.with(address) { client in
                try await Tessera_V1_Scheduler.Client(wrapping: client).serveModel(
                    request, options: .timeout(.seconds(30))
                ).model
            }
        } catch let error as RPCError where error.code != .unavailable {
            throw CLIError("the scheduler refused: \(error.message)")
        } catch {
            throw CLIError("cannot reach the scheduler at \(address): \(error)")
        }
    }
}

/// `--scheduler` and `--port-offset` of the model-serving commands.
struct SchedulerAddressOption: ParsableArguments {
    @Option(
        help:
            "Scheduler address host:port (default: env TESSERA_SCHEDULER_ADDRESS, else 127.0.0.1:7401)."
    )
    var scheduler: ListenAddress?
    @OptionGroup var offset: PortOffsetOption

    func validate() throws {
        try offset.check(explicit: scheduler, flag: "--scheduler")
    }

    /// The address to call, with the cluster's certificates installed.
    func resolve() throws -> ListenAddress {
        try offset.installSecurity()
        return offset.address(
            scheduler, environment: "TESSERA_SCHEDULER_ADDRESS", defaultPort: 7401)
    }
}
