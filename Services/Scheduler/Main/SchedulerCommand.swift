import ArgumentParser
import Scheduler
import ServiceKit

/// `scheduler`: knows every worker, places model shards and routes requests.
@main
struct SchedulerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scheduler", abstract: "Tessera scheduler: worker registry, placement and routing.")

    @Option(help: "Address to bind (env TESSERA_HOST).")
    var host = EnvironmentDefaults.host
    @Option(help: "gRPC port (env TESSERA_SCHEDULER_PORT).")
    var port = EnvironmentDefaults.int("TESSERA_SCHEDULER_PORT", 7401)
    @Option(help: "HTTP port for /metrics, /healthz, /readyz (env TESSERA_SCHEDULER_HTTP_PORT).")
    var httpPort = EnvironmentDefaults.int("TESSERA_SCHEDULER_HTTP_PORT", 9401)
    @Option(help: "Heartbeat interval asked of workers, in milliseconds (env TESSERA_HEARTBEAT_MS).")
    var heartbeatMs = EnvironmentDefaults.int("TESSERA_HEARTBEAT_MS", 2000)
    @Option(help: "Drop a worker after this long without a heartbeat, in milliseconds (env TESSERA_WORKER_EXPIRY_MS).")
    var workerExpiryMs = EnvironmentDefaults.int("TESSERA_WORKER_EXPIRY_MS", 6000)
    @Option(help: "trace, debug, info, notice, warning, error or critical (env TESSERA_LOG_LEVEL).")
    var logLevel = EnvironmentDefaults.string("TESSERA_LOG_LEVEL", "info")

    func validate() throws {
        try OptionChecks.port(port, "--port")
        try OptionChecks.port(httpPort, "--http-port")
        guard heartbeatMs > 0, workerExpiryMs > heartbeatMs else {
            throw ValidationError("--worker-expiry-ms must be greater than --heartbeat-ms, and both positive")
        }
    }

    func run() async throws {
        var configuration = SchedulerConfiguration()
        configuration.grpcAddress = ListenAddress(host: host, port: port)
        configuration.httpAddress = ListenAddress(host: host, port: httpPort)
        configuration.heartbeatInterval = .milliseconds(heartbeatMs)
        configuration.workerExpiry = .milliseconds(workerExpiryMs)
        await ServiceRunner.run(name: "scheduler", logLevel: logLevel) { logger in
            buildScheduler(configuration, logger: logger)
        }
    }
}
