import Logging
import ServiceKit
import TesseraProto

public struct GatewayConfiguration: Sendable {
    public var grpcAddress = ListenAddress(host: "127.0.0.1", port: 7400)
    /// The app-facing HTTP API (OpenAI-compatible, later) and /metrics.
    public var httpAddress: ListenAddress? = ListenAddress(host: "127.0.0.1", port: 8080)
    public var schedulerAddress = ListenAddress(host: "127.0.0.1", port: 7401)
    public var cacheManagerAddress = ListenAddress(host: "127.0.0.1", port: 7402)

    public init() {}
}

/// Builds the gateway. It reports SERVING once the scheduler answers: without it no request
/// can be placed.
public func buildGateway(_ configuration: GatewayConfiguration, logger: Logger) throws -> ServiceApplication {
    let schedulerClient = try ServiceClient.make(configuration.schedulerAddress)
    let scheduler = Tessera_V1_Scheduler.Client(wrapping: schedulerClient)
    return ServiceApplication(
        name: "gateway", grpcAddress: configuration.grpcAddress, httpAddress: configuration.httpAddress,
        logger: logger,
        rpcServices: [GatewayService()],
        backgroundServices: [ClientService(client: schedulerClient)],
        readiness: { _ in
            var backoff = Backoff()
            while true {
                do {
                    _ = try await scheduler.listWorkers(Tessera_V1_ListWorkersRequest())
                    return
                } catch {
                    logger.notice("waiting for the scheduler", metadata: ["error": "\(error)"])
                    try await Task.sleep(for: backoff.next())
                }
            }
        })
}
