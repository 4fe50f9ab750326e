import ArgumentParser
import ServiceKit
import Verifier

/// `verifier`: checks untrusted workers' work and keeps reputations.
@main
struct VerifierCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verifier", abstract: "Tessera verifier: commitments, replay checks and reputations.")

    @Option(help: "Address to bind (env TESSERA_HOST).")
    var host = EnvironmentDefaults.host
    @Option(help: "gRPC port (env TESSERA_VERIFIER_PORT).")
    var port = EnvironmentDefaults.int("TESSERA_VERIFIER_PORT", 7403)
    @Option(help: "HTTP port for /metrics, /healthz, /readyz (env TESSERA_VERIFIER_HTTP_PORT).")
    var httpPort = EnvironmentDefaults.int("TESSERA_VERIFIER_HTTP_PORT", 9403)
    @Option(help: "trace, debug, info, notice, warning, error or critical (env TESSERA_LOG_LEVEL).")
    var logLevel = EnvironmentDefaults.string("TESSERA_LOG_LEVEL", "info")

    func validate() throws {
        try OptionChecks.port(port, "--port")
        try OptionChecks.port(httpPort, "--http-port")
    }

    func run() async throws {
        var configuration = VerifierConfiguration()
        configuration.grpcAddress = ListenAddress(host: host, port: port)
        configuration.httpAddress = ListenAddress(host: host, port: httpPort)
        await ServiceRunner.run(name: "verifier", logLevel: logLevel) { logger in
            buildVerifier(configuration, logger: logger)
        }
    }
}
