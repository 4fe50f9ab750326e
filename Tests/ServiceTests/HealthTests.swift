import Foundation
import GRPCCore
import Scheduler
import ServiceKit
import TesseraProto
import Testing

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

@Suite struct HealthTests {
    @Test func schedulerReportsServingForServerAndService() async throws {
        // Health needs no socket: the scheduler runs on an in-process transport.
        var configuration = SchedulerConfiguration()
        configuration.cacheManagerAddress = ListenAddress(host: "127.0.0.1", port: 1)
        let scheduler = try buildScheduler(configuration, logger: quietLogger)
        try await scheduler.withInProcessServer { client async throws in
            // (generous: the parallel test run can starve a service of CPU for seconds)
            #expect(
                try await eventually(timeout: .seconds(60)) { await HealthProbe.isServing(client) })
            #expect(
                try await eventually {
                    await HealthProbe.isServing(client, service: "tessera.v1.Scheduler")
                })
            let unknown = await rpcCode {
                _ = try await Grpc_Health_V1_Health.Client(wrapping: client).check(
                    .with { $0.service = "no.such.Service" })
            }
            #expect(unknown == .notFound)
        }
    }

    @Test func aStreamIsCountedWhenItEndsWithHowItEnded() async throws {
        // A Health Watch stream held open 400 ms, then cancelled by its client: counted as
        // cancelled, and timed to its end, not to its set-up. (Over a socket: the in-process
        // transport does not pass a client's cancellation on to the handler.)
        let scheduler = try await startScheduler()
        let method = "grpc.health.v1.Health/Watch"
        let before = Self.sample("tessera_grpc_requests_total", method: method, code: "cancelled")
        let durationBefore = Self.sample("tessera_grpc_request_duration_sum", method: method)
        try await ServiceClient.with(scheduler.addresses.grpc) { client in
            let streaming = OneShot<Void>()
            let watch = Task {
                try await Grpc_Health_V1_Health.Client(wrapping: client).watch(.init()) {
                    response in
                    for try await _ in response.messages { streaming.set(()) }
                }
            }
            // Wait until the server streams (a loaded machine may take a while).
            try await streaming.value
            try await Task.sleep(for: .milliseconds(400))
            watch.cancel()
            _ = await watch.result
        }
        #expect(
            try await eventually(timeout: .seconds(30)) {
                // (other tests in this process may cancel Watch streams too)
                Self.sample("tessera_grpc_requests_total", method: method, code: "cancelled")
                    >= before + 1
            })
        let duration =
            Self.sample("tessera_grpc_request_duration_sum", method: method) - durationBefore
        #expect(duration >= 0.3)  // the stream lived ~0.4 s; its set-up took milliseconds
        await scheduler.shutdown()
    }

    /// A sample's value from the process's Prometheus text (0 when absent).
    static func sample(_ name: String, method: String, code: String? = nil) -> Double {
        ServiceMetrics.render().split(separator: "\n").filter { line in
            line.hasPrefix(name + "{") && line.contains("method=\"\(method)\"")
                && (code.map { line.contains("code=\"\($0)\"") } ?? true)
        }.compactMap { $0.split(separator: " ").last.flatMap { Double($0) } }.reduce(0, +)
    }

    @Test func workerIsNotServingUntilRegistered() async throws {
        // The scheduler's port is known but nothing listens there yet.
        let schedulerPort = try freePort()
        let schedulerAddress = ListenAddress(host: "127.0.0.1", port: schedulerPort)
        let worker = try await startWorker(scheduler: schedulerAddress)
        try await Task.sleep(for: .milliseconds(300))
        #expect(await HealthProbe.isServing(worker.addresses.grpc) == false)

        // Start order does not matter: the worker keeps retrying and then registers.
        let scheduler = try await startScheduler(port: schedulerPort)
        #expect(try await eventually { await HealthProbe.isServing(worker.addresses.grpc) })
        #expect(try await eventually { try await listWorkers(schedulerAddress).count == 1 })
        await worker.shutdown()
        await scheduler.shutdown()
    }

    @Test func httpEndpointsServeMetricsAndReadiness() async throws {
        let scheduler = try await startScheduler()
        let http = try #require(scheduler.addresses.http)
        #expect(try await eventually { await HealthProbe.isServing(scheduler.addresses.grpc) })
        _ = try await listWorkers(scheduler.addresses.grpc)

        let (metrics, metricsStatus) = try await httpGet("http://\(http)/metrics")
        #expect(metricsStatus == 200)
        #expect(metrics.contains("tessera_grpc_requests_total"))
        let (_, readyStatus) = try await httpGet("http://\(http)/readyz")
        #expect(readyStatus == 200)
        await scheduler.shutdown()
    }

    @Test func watchStreamEndsCleanlyOnGracefulShutdown() async throws {
        let scheduler = try await startScheduler()
        let address = scheduler.addresses.grpc
        #expect(try await eventually { await HealthProbe.isServing(address) })
        let statuses = try await ServiceClient.with(address) { client in
            let health = Grpc_Health_V1_Health.Client(wrapping: client)
            return try await health.watch(.init()) { response in
                var seen: [Grpc_Health_V1_HealthCheckResponse.ServingStatus] = []
                for try await message in response.messages {
                    seen.append(message.status)
                    if seen.count == 1 { Task { await scheduler.shutdown() } }
                }
                return seen
            }
        }
        // The in-flight stream saw SERVING, then NOT_SERVING, and then finished without error.
        #expect(statuses.first == .serving)
        #expect(statuses.last == .notServing)
    }
}

func httpGet(_ url: String) async throws -> (String, Int) {
    let (data, response) = try await URLSession.shared.data(from: URL(string: url)!)
    return (String(decoding: data, as: UTF8.self), (response as? HTTPURLResponse)?.statusCode ?? 0)
}
