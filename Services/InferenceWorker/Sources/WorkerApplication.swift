import Logging
import ServiceKit

/// Builds an inference worker: its gRPC API, and membership with the scheduler. It reports
/// SERVING once it has measured itself and the scheduler accepted its registration.
public func buildInferenceWorker(_ configuration: WorkerConfiguration, logger: Logger) throws -> ServiceApplication {
    let state = WorkerState()
    let client = try ServiceClient.make(configuration.schedulerAddress)
    let link = SchedulerLink(client: client, state: state, logger: logger)
    let advertised = OneShot<String>()
    return ServiceApplication(
        name: "inference-worker", grpcAddress: configuration.grpcAddress, httpAddress: configuration.httpAddress,
        logger: logger,
        rpcServices: [InferenceWorkerService(state: state)],
        backgroundServices: [
            ClientService(client: client),
            HeartbeatService(link: link, address: advertised, workerID: configuration.workerID),
        ],
        readiness: { bound in
            let capabilities = state.measureCapabilities(
                memoryBudget: configuration.memoryBudgetBytes, threads: configuration.threads)
            logger.info(
                "measured", metadata: [
                    "gflops": "\(Int(capabilities.computeGflops))",
                    "memory_gbps": "\(Int(capabilities.memoryBandwidthGbps))",
                ])
            let address = configuration.advertisedAddress(boundPort: bound.grpc.port)
            try await link.registerUntilAccepted(address: address, workerID: configuration.workerID)
            advertised.set(address)
        })
}
