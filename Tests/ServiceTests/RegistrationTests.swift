import Foundation
import GRPCCore
import Integrity
import ServiceKit
import TesseraProto
import Testing

@testable import InferenceWorker
@testable import Scheduler

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

    @Test func liveIDFromAnotherAddressIsRefusedAndTheSameAddressKeepsIt() async throws {
        let scheduler = try await startScheduler()
        let address = scheduler.addresses.grpc
        let (first, impostor, again) = try await ServiceClient.with(address) { client in
            let api = Tessera_V1_Scheduler.Client(wrapping: client)
            let first = try await api.registerWorker(registration("edge-c", at: "127.0.0.1:9001"))
            let impostor = await rpcError {
                _ = try await api.registerWorker(registration("edge-c", at: "127.0.0.1:9002"))
            }
            // The same worker again (restarted, or told NOT_FOUND) keeps its id.
            let again = try await api.registerWorker(registration("edge-c", at: "127.0.0.1:9001"))
            return (first.workerID, impostor, again.workerID)
        }
        #expect(first == "edge-c" && again == "edge-c")
        #expect(impostor?.code == .alreadyExists)
        let message = try #require(impostor?.message)
        #expect(
            message.hasPrefix(
                "worker id edge-c is registered from 127.0.0.1:9001 and sent a heartbeat "))
        #expect(message.hasSuffix(" s ago; stop the other worker or choose another --worker-id"))
        #expect(try await listWorkers(address).map(\.address) == ["127.0.0.1:9001"])
        await scheduler.shutdown()
    }

    @Test func aRegisteringWorkerIsDialledAfresh() async throws {
        // A restarted container keeps its host name but not always its IP: the client the
        // scheduler made before would dial the old IP until a connect timeout.
        let registry = WorkerRegistry(expiry: .seconds(60))
        let pool = ClientPool()
        let service = SchedulerService(
            registry: registry, heartbeatInterval: .seconds(1),
            routing: Routing(
                registry: registry, pipelines: LivePipelines(), model: OneShot(),
                logger: quietLogger),
            logger: quietLogger, workerClients: pool)
        let worker = ListenAddress(host: "127.0.0.1", port: 9005)
        let other = ListenAddress(host: "127.0.0.1", port: 9006)
        let before = try pool.client(for: worker)
        let untouched = try pool.client(for: other)
        #expect(try pool.client(for: worker) === before)  // the pool reuses a client

        _ = try await withServerContextRPCCancellationHandle { cancellation in
            try await service.registerWorker(
                request: registration("edge-e", at: "127.0.0.1:9005"),
                context: ServerContext(
                    descriptor: Tessera_V1_Scheduler.Method.RegisterWorker.descriptor,
                    remotePeer: "test", localPeer: "test", cancellation: cancellation))
        }
        #expect(try pool.client(for: worker) !== before)
        #expect(try pool.client(for: other) === untouched)
    }

    @Test func expiredIDMayBeTakenFromANewAddress() throws {
        // On the registry itself, with explicit instants: a loaded machine cannot blur them.
        let registry = WorkerRegistry(expiry: .milliseconds(300))
        let start = ContinuousClock.now
        let first = ListenAddress(host: "127.0.0.1", port: 9001)
        let second = ListenAddress(host: "127.0.0.1", port: 9002)
        let capabilities = WorkerCapabilities(memoryBytes: 1 << 30, cpuCount: 1)
        _ = try registry.register(
            address: first, capabilities: capabilities, requestedID: "edge-d", readyShards: [],
            now: start)
        #expect(throws: SchedulerError.self) {
            try registry.register(
                address: second, capabilities: capabilities, requestedID: "edge-d",
                readyShards: [], now: start + .milliseconds(100))
        }
        // No heartbeats for longer than the expiry: the id is free to move.
        let moved = try registry.register(
            address: second, capabilities: capabilities, requestedID: "edge-d", readyShards: [],
            now: start + .milliseconds(600))
        #expect(moved == "edge-d")
        #expect(registry.workers().map(\.address) == [second])
    }

    @Test func workerWhoseIDIsLiveElsewhereStopsWithTheReason() async throws {
        let scheduler = try await startScheduler()
        let address = scheduler.addresses.grpc
        let first = try await startWorker(scheduler: address, workerID: "twin")
        #expect(try await eventually { try await listWorkers(address).count == 1 })
        let second = try await startWorker(scheduler: address, workerID: "twin")
        let failure = await exitError(of: second, within: .seconds(15))
        let reason = failure.map { "\($0)" } ?? "still running"
        #expect(
            reason.hasPrefix(
                "the scheduler refused this worker: worker id twin is registered from "
                    + "127.0.0.1:\(first.addresses.grpc.port)"))
        #expect(
            try await listWorkers(address).map(\.address) == [
                "127.0.0.1:\(first.addresses.grpc.port)"
            ])
        await second.shutdown()
        await first.shutdown()
        await scheduler.shutdown()
    }

    @Test func generatedIDIsKeptInTheStateDirectoryAcrossRestarts() async throws {
        let scheduler = try await startScheduler(expiry: .seconds(1))
        let address = scheduler.addresses.grpc
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("tessera-state-\(UUID().uuidString.prefix(8))").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let port = try freePort()
        var worker = try await startWorker(
            scheduler: address, port: port, stateDirectory: directory)
        // Read in the same poll: with a 1 s expiry a starved worker can lapse between two
        // calls (it registers again, under the same id, at its next heartbeat).
        var listed: String?
        #expect(
            try await eventually {
                listed = try await listWorkers(address).first?.workerID
                return listed != nil
            })
        let id = try #require(listed)
        #expect(id.wholeMatch(of: /w-[0-9a-f]{12}/) != nil)
        let stored = try String(contentsOfFile: "\(directory)/worker-id", encoding: .utf8)
        #expect(stored.trimmingCharacters(in: .whitespacesAndNewlines) == id)

        await worker.shutdown()
        #expect(try await eventually { try await listWorkers(address).isEmpty })  // expired
        worker = try await startWorker(scheduler: address, port: port, stateDirectory: directory)
        #expect(try await eventually { try await listWorkers(address).map(\.workerID) == [id] })
        await worker.shutdown()
        await scheduler.shutdown()
    }

    @Test func repeatedFailuresAreLoggedOnceThenAsRemindersAndWhenTheyEnd() {
        let recorder = LogRecorder()
        var streak = FailureStreak("heartbeat", reminderInterval: .seconds(60))
        let start = ContinuousClock.now
        let down = RPCError(code: .unavailable, message: "connection refused")
        for second in 0..<150 {
            streak.failed(down, logger: recorder.logger, now: start + .seconds(second))
        }
        streak.ended(logger: recorder.logger, now: start + .seconds(150))
        #expect(recorder.count(of: "heartbeat failed; retrying") == 1)
        let reminders = recorder.entries("heartbeat failing")
        #expect(reminders.map { $0.metadata["attempts"] } == ["61", "121"])
        #expect(reminders.map { $0.metadata["for"] } == ["60.0 s", "120.0 s"])
        let recovered = recorder.entries("heartbeat recovered")
        #expect(recovered.map { $0.metadata["attempts"] } == ["150"])
        #expect(recovered.map { $0.metadata["after"] } == ["150.0 s"])
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

/// A registration as a worker sends it, from `address` (nothing listens there), with the
/// one key of these tests' workers (ids are pinned to the key they first registered with).
private func registration(_ id: String, at address: String) -> Tessera_V1_RegisterWorkerRequest {
    .with {
        $0.workerID = id
        $0.address = address
        $0.capabilities.memoryBytes = 1 << 30
        $0.capabilities.cpuCount = 1
        $0.publicKey = Data(registrationKey)
    }
}

private let registrationKey = SigningIdentity().publicKey

private func rpcError(_ body: () async throws -> Void) async -> RPCError? {
    do {
        try await body()
        return nil
    } catch {
        return error as? RPCError
    }
}

/// A worker on a fixed port (so a restart is the same address) keeping its id in `stateDirectory`.
private func startWorker(
    scheduler: ListenAddress, port: Int, stateDirectory: String
) async throws -> RunningService {
    var configuration = WorkerConfiguration()
    configuration.grpcAddress = ListenAddress(host: "127.0.0.1", port: port)
    configuration.httpAddress = loopbackAnyPort
    configuration.schedulerAddress = scheduler
    configuration.memoryBudgetBytes = 1 << 30
    configuration.threads = 1
    configuration.stateDirectory = stateDirectory
    return try await buildInferenceWorker(configuration, logger: quietLogger).start()
}

/// The error `service` stopped with, or nil if it is still running after `timeout`.
private func exitError(of service: RunningService, within timeout: Duration) async -> (any Error)? {
    await withTaskGroup(of: (any Error)?.self) { group in
        group.addTask {
            do {
                try await service.wait()
                return nil
            } catch {
                return error
            }
        }
        group.addTask {
            // Still running: stop it, so the waiting child (not cancellable) ends too.
            try? await Task.sleep(for: timeout)
            await service.shutdown()
            return nil
        }
        let first = await group.next() ?? nil
        group.cancelAll()
        return first
    }
}
