import ArgumentParser
import InferenceWorker
import ServiceKit

/// `tessera-faulty-worker`: TEST-ONLY. An inference worker that cheats in the ways `--fault`
/// names, for exercising the verifier's detection (its detection matrix and system tests).
/// It takes every flag of `inference-worker`; the faults exist only in this executable, never
/// in `inference-worker`, and nothing deploys it.
@main
struct FaultyWorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tessera-faulty-worker",
        abstract:
            "TEST-ONLY inference worker that cheats on purpose (--fault), for the verifier's tests."
    )

    @OptionGroup var worker: WorkerOptions

    @Option(
        name: .customLong("fault"),
        help: ArgumentHelp(
            "A fault to inject (repeatable): skip-layer=N (global layer index), low-bit, noise=R (relative to each row's RMS), tamper-output, wrong-token-every=N, forge-signature, replay-commitment.",
            valueName: "kind[=value]"))
    var faults: [String] = []
    @Option(
        help:
            "Serve this many steps honestly before the runtime faults start (skip-layer and low-bit hold from the shard's load on)."
    )
    var faultAfter = 0

    func validate() throws {
        guard !faults.isEmpty else { throw ValidationError("give at least one --fault") }
        guard faultAfter >= 0 else { throw ValidationError("--fault-after must not be negative") }
        _ = try parsedFaults()
    }

    func parsedFaults() throws -> WorkerFaults {
        do {
            return WorkerFaults(
                try faults.map(WorkerFaults.Fault.init(parsing:)), after: faultAfter)
        } catch {
            throw ValidationError("\(error)")
        }
    }

    func run() async throws {
        let configuration = worker.configuration
        let faults = try parsedFaults()
        let logLevel = worker.service.logLevel
        await ServiceRunner.run(
            name: "tessera-faulty-worker", logLevel: logLevel, security: worker.service.security,
            certificateName: "worker", tracing: worker.service.tracing
        ) { logger in
            try buildInferenceWorker(configuration, logger: logger, faults: faults)
        }
    }
}
