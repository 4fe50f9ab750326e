import ArgumentParser
import ServiceKit
import Verifier

/// `verifier`: checks untrusted workers' work and keeps reputations.
@main
struct VerifierCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verifier",
        abstract: "Tessera verifier: commitments, replay checks and reputations.")

    @OptionGroup var service: ServiceOptions<VerifierPorts>

    func run() async throws {
        var configuration = VerifierConfiguration()
        configuration.grpcAddress = service.grpcAddress
        configuration.httpAddress = service.httpAddress
        await ServiceRunner.run(name: "verifier", logLevel: service.logLevel) { logger in
            buildVerifier(configuration, logger: logger)
        }
    }
}

enum VerifierPorts: ServicePorts {
    static let grpc = (variable: "TESSERA_VERIFIER_PORT", port: 7403)
    static let http = (variable: "TESSERA_VERIFIER_HTTP_PORT", port: 9403)
}
