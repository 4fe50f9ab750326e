import CacheManager
import Foundation
import GRPCCore
import Gateway
import Scheduler
import ServiceKit
import TesseraProto
import Testing

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// A cluster that cannot generate: the model is in the cache-manager but no worker exists,
/// so no pipeline ever becomes ready. Requests wait the gateway's limit, then get
/// UNAVAILABLE / 503 with a message; nothing hangs.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct GatewayUnavailableTests {
    @Test func noPipelineMeansUnavailableAnd503() async throws {
        let store = FileManager.default.temporaryDirectory.appendingPathComponent(
            "tessera-gw-unavailable-\(getpid())")
        var cacheConfiguration = CacheManagerConfiguration()
        cacheConfiguration.grpcAddress = loopbackAnyPort
        cacheConfiguration.httpAddress = nil
        cacheConfiguration.storeDirectory = store.path
        cacheConfiguration.preloadModels = [GatewayTestCluster.modelPath]
        let cacheManager = try await buildCacheManager(cacheConfiguration, logger: quietLogger)
            .start()
        // SERVING once the preload is imported.
        #expect(
            try await eventually(timeout: .seconds(60)) {
                await HealthProbe.isServing(cacheManager.addresses.grpc)
            })
        var schedulerConfiguration = SchedulerConfiguration()
        schedulerConfiguration.grpcAddress = loopbackAnyPort
        schedulerConfiguration.httpAddress = nil
        schedulerConfiguration.cacheManagerAddress = cacheManager.addresses.grpc
        let scheduler = try await buildScheduler(schedulerConfiguration, logger: quietLogger)
            .start()
        var configuration = GatewayConfiguration()
        configuration.grpcAddress = loopbackAnyPort
        configuration.httpAddress = loopbackAnyPort
        configuration.schedulerAddress = scheduler.addresses.grpc
        configuration.cacheManagerAddress = cacheManager.addresses.grpc
        configuration.pipelineWaitLimit = .seconds(1)
        let gateway = try await buildGateway(configuration, logger: quietLogger).start()

        let started = ContinuousClock.now
        let grpcError =
            await {
                do {
                    _ = try await ServiceClient.with(gateway.addresses.grpc) { client in
                        try await Tessera_V1_Gateway.Client(wrapping: client).generate(
                            .with { $0.prompt = "Hello" }, options: .timeout(.seconds(30))
                        ) { try await Array($0.messages) }
                    }
                    return nil
                } catch let error as RPCError {
                    return error
                } catch {
                    return RPCError(code: .unknown, message: "\(error)")
                }
            }() as RPCError?
        #expect(grpcError?.code == .unavailable)
        #expect(grpcError?.message.contains("no pipeline") == true)
        #expect(ContinuousClock.now - started < .seconds(10))

        let models = try await ServiceClient.with(gateway.addresses.grpc) { client in
            try await Tessera_V1_Gateway.Client(wrapping: client).listServedModels(.init()).models
        }
        #expect(models.map(\.ready) == [false])

        for stream in [false, true] {
            var request = URLRequest(
                url: URL(string: "http://\(gateway.addresses.http!)/v1/chat/completions")!)
            request.httpMethod = "POST"
            request.httpBody = try JSONSerialization.data(
                withJSONObject: [
                    "messages": [["role": "user", "content": "Hello"]], "stream": stream,
                ])
            let (data, response) = try await URLSession.shared.data(for: request)
            #expect((response as! HTTPURLResponse).statusCode == 503)
            let error =
                (try JSONSerialization.jsonObject(with: data) as? [String: Any])?["error"]
                as? [String: Any]
            #expect(error?["type"] as? String == "unavailable_error")
            #expect((error?["message"] as? String)?.contains("no pipeline") == true)
        }
        await gateway.shutdown()
        await scheduler.shutdown()
        await cacheManager.shutdown()
    }
}
