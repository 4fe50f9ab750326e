import Foundation
import GRPCCore
import Scheduler
import ServiceKit
import TesseraProto
import Testing

@Suite struct RegistrationTests {
    @Test func workerRegistersWithMeasuredCapabilitiesAndSendsHeartbeats() async throws {
        let scheduler = try await startScheduler(heartbeat: .milliseconds(100))
        let worker = try await startWorker(scheduler: scheduler.addresses.grpc, workerID: "edge-a")
        let address = scheduler.addresses.grpc
        #expect(try await eventually { try await listWorkers(address).count == 1 })

        let first = try #require(try await listWorkers(address).first)
        #expect(first.workerID == "edge-a")
        #expect(first.address == "127.0.0.1:\(worker.addresses.grpc.port)")
        #expect(first.capabilities.memoryBytes == 1 << 30)
        #expect(first.capabilities.cpuCount == 1)
        #expect(first.capabilities.computeGflops > 0.5)  // a real measurement, not a placeholder
        #expect(first.capabilities.memoryBandwidthGbps > 0.1)

        // Heartbeats move the timestamp forward and carry the load.
        let before = first.lastHeartbeatUnixMs
        #expect(
            try await eventually {
                try await listWorkers(address).first!.lastHeartbeatUnixMs > before
            })
        #expect(try await listWorkers(address).first!.load.memoryUsedBytes > 0)
        await worker.shutdown()
        await scheduler.shutdown()
    }

    @Test func workerIsDroppedWhenHeartbeatsStop() async throws {
        let scheduler = try await startScheduler(
            heartbeat: .milliseconds(100), expiry: .milliseconds(600))
        let address = scheduler.addresses.grpc
        let worker = try await startWorker(scheduler: address)
        #expect(try await eventually { try await listWorkers(address).count == 1 })
        await worker.shutdown()
        #expect(
            try await eventually(timeout: .seconds(5)) { try await listWorkers(address).isEmpty })
        await scheduler.shutdown()
    }

    @Test func forgottenWorkerRegistersAgain() async throws {
        // The scheduler restarts (losing its registry); the worker's next heartbeat gets
        // NOT_FOUND and it registers again under the same id.
        let port = try freePort()
        var scheduler = try await startScheduler(heartbeat: .milliseconds(100), port: port)
        let address = scheduler.addresses.grpc
        let worker = try await startWorker(scheduler: address, workerID: "edge-b")
        #expect(try await eventually { try await listWorkers(address).count == 1 })
        await scheduler.shutdown()
        scheduler = try await startScheduler(heartbeat: .milliseconds(100), port: port)
        #expect(
            try await eventually { try await listWorkers(address).map(\.workerID) == ["edge-b"] })
        await worker.shutdown()
        await scheduler.shutdown()
    }

    @Test func malformedRequestsGetInvalidArgumentAndUnknownWorkersNotFound() async throws {
        let scheduler = try await startScheduler()
        let result = try await ServiceClient.with(scheduler.addresses.grpc) { client in
            let api = Tessera_V1_Scheduler.Client(wrapping: client)
            let capabilities = Tessera_V1_WorkerCapabilities.with {
                $0.memoryBytes = 1 << 30
                $0.cpuCount = 2
            }
            let noPort = await rpcCode {
                _ = try await api.registerWorker(
                    .with {
                        $0.address = "127.0.0.1"
                        $0.capabilities = capabilities
                    })
            }
            let zeroMemory = await rpcCode {
                _ = try await api.registerWorker(
                    .with {
                        $0.address = "127.0.0.1:9000"
                        $0.capabilities.cpuCount = 2
                    })
            }
            let emptyID = await rpcCode { _ = try await api.heartbeat(.init()) }
            let unknown = await rpcCode {
                _ = try await api.heartbeat(.with { $0.workerID = "nobody" })
            }
            let placement = await rpcCode { _ = try await api.getPlacement(.init()) }
            return (noPort, zeroMemory, emptyID, unknown, placement)
        }
        #expect(result.0 == .invalidArgument)
        #expect(result.1 == .invalidArgument)
        #expect(result.2 == .invalidArgument)
        #expect(result.3 == .notFound)
        // no model manifest: the scheduler has no cache-manager here
        #expect(result.4 == .unavailable)
        await scheduler.shutdown()
    }

    @Test func portAlreadyInUseIsAClearError() async throws {
        let scheduler = try await startScheduler()
        var configuration = SchedulerConfiguration()
        configuration.grpcAddress = scheduler.addresses.grpc
        configuration.httpAddress = loopbackAnyPort
        await #expect {
            _ = try await buildScheduler(configuration, logger: quietLogger).start()
        } throws: { error in
            "\(error)".contains("cannot listen on gRPC \(scheduler.addresses.grpc)")
        }
        await scheduler.shutdown()
    }
}
