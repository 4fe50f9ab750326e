import Logging
import ServiceKit

public struct SchedulerConfiguration: Sendable {
    public var grpcAddress = ListenAddress(host: "127.0.0.1", port: 7401)
    public var httpAddress: ListenAddress? = ListenAddress(host: "127.0.0.1", port: 9401)
    /// How often workers should send heartbeats, and how long silence lasts before a drop.
    public var heartbeatInterval: Duration = .seconds(2)
    public var workerExpiry: Duration = .seconds(6)

    public init() {}
}

/// Builds the scheduler: its gRPC API, the worker registry and the expiry sweeper.
public func buildScheduler(_ configuration: SchedulerConfiguration, logger: Logger) -> ServiceApplication {
    let registry = WorkerRegistry(expiry: configuration.workerExpiry)
    return ServiceApplication(
        name: "scheduler", grpcAddress: configuration.grpcAddress, httpAddress: configuration.httpAddress,
        logger: logger,
        rpcServices: [
            SchedulerService(registry: registry, heartbeatInterval: configuration.heartbeatInterval, logger: logger)
        ],
        backgroundServices: [WorkerExpiryService(registry: registry, logger: logger)])
}
