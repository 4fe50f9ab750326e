import GRPCCore
import Logging
import ServiceKit
import ServiceLifecycle
import TesseraProto

/// The worker's side of membership: register with the scheduler (retrying with backoff
/// while it is not up, so start order does not matter), then send heartbeats with the
/// current load. A NOT_FOUND heartbeat means the scheduler forgot us: register again.
final class SchedulerLink: Sendable {
    let scheduler: Tessera_V1_Scheduler.Client<TesseraClientTransport>
    let state: WorkerState
    let logger: Logger
    private let interval = OneShot<Duration>()

    init(client: TesseraGRPCClient, state: WorkerState, logger: Logger) {
        self.scheduler = Tessera_V1_Scheduler.Client(wrapping: client)
        self.state = state
        self.logger = logger
    }

    /// Returns once the scheduler accepted the registration; throws only on cancellation.
    func registerUntilAccepted(address: String, workerID: String) async throws {
        var backoff = Backoff()
        while true {
            try Task.checkCancellation()
            do {
                try await register(address: address, workerID: workerID)
                return
            } catch let error as RPCError where error.code == .invalidArgument {
                throw error  // retrying a malformed registration cannot help
            } catch {
                let delay = backoff.next()
                logger.notice(
                    "scheduler not reachable, retrying",
                    metadata: ["error": "\(error)", "retry_in": "\(delay)"])
                try await Task.sleep(for: delay)
            }
        }
    }

    private func register(address: String, workerID: String) async throws {
        let request = Tessera_V1_RegisterWorkerRequest.with {
            $0.address = address
            $0.capabilities = Tessera_V1_WorkerCapabilities(state.capabilities)
            $0.workerID = workerID.isEmpty ? state.workerID : workerID
            $0.readyShards = state.wireReadyShards  // shards loaded before a scheduler restart
        }
        let response = try await scheduler.registerWorker(request)
        state.workerID = response.workerID
        interval.set(.milliseconds(Int(max(response.heartbeatIntervalMs, 100))))
        logger.info(
            "registered with scheduler",
            metadata: ["worker": "\(response.workerID)", "address": "\(address)"])
    }

    /// Heartbeats until graceful shutdown, re-registering when the scheduler lost us.
    func heartbeatLoop(address: String, workerID: String) async {
        guard let period = try? await interval.value else { return }
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            try? await Task.sleep(for: period)
            do {
                _ = try await scheduler.heartbeat(
                    .with {
                        $0.workerID = state.workerID
                        $0.load = Tessera_V1_WorkerLoad(state.load(draining: true))
                        $0.readyShards = state.wireReadyShards
                    })
            } catch let error as RPCError where error.code == .notFound {
                logger.warning("scheduler does not know this worker; registering again")
                try? await registerUntilAccepted(address: address, workerID: workerID)
            } catch {
                logger.notice("heartbeat failed", metadata: ["error": "\(error)"])
            }
        }
    }
}

/// Runs the heartbeat loop inside the service group once registration succeeded.
struct HeartbeatService: Service {
    let link: SchedulerLink
    let address: OneShot<String>
    let workerID: String

    func run() async throws {
        guard let address = try? await address.value else { return }
        await cancelWhenGracefulShutdown {
            await link.heartbeatLoop(address: address, workerID: workerID)
        }
    }
}
