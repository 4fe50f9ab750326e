import ArgumentParser
import InferenceWorker
import ServiceKit

/// `inference-worker`: hosts model shards and runs the forward pass for its layer range.
@main
struct InferenceWorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inference-worker",
        abstract: "Tessera inference worker: hosts shards, runs layer ranges.")

    @OptionGroup var worker: WorkerOptions

    func run() async throws {
        let worker = await worker.enrolled()
        let configuration = worker.configuration
        let logLevel = worker.service.logLevel
        await ServiceRunner.run(
            name: "inference-worker", logLevel: logLevel, security: worker.service.security,
            certificateName: "worker", tracing: worker.service.tracing
        ) { logger in
            try buildInferenceWorker(configuration, logger: logger)
        }
    }
}
