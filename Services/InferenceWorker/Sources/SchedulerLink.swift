import Cluster
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Logging
import ServiceKit
import ServiceLifecycle
import Synchronization
import TesseraProto

/// The worker's side of membership: register with the scheduler under the worker's own id
/// (retrying while it is not up, so start order does not matter), then send heartbeats with
/// the current load and loaded shards. When the scheduler forgot us (NOT_FOUND: it restarted,
/// or expired us during an outage) the worker registers again at once, listing its loaded
/// shards. A refusal (the id is live at another address, or pinned to another signing key) is
/// final: the worker stops.
final class SchedulerLink: Sendable {
    /// Retries while the scheduler is unreachable: capped at 2 s so a scheduler that comes
    /// back sees its workers within seconds; `Backoff` jitters so they do not arrive at once.
    static let retryBackoff = Backoff(initial: .milliseconds(200), maximum: .seconds(2))
    /// A scheduler that accepts the connection but does not answer is as good as down.
    static let callTimeout = CallOptions.timeout(.seconds(5))

    let scheduler: Tessera_V1_Scheduler.Client<TesseraClientTransport>
    let state: WorkerState
    /// The worker's Ed25519 public key: the scheduler pins the worker's id to it.
    let publicKey: [UInt8]
    let logger: Logger
    /// What the shard cache holds, sent with each heartbeat (nil: not reported).
    let cacheReport: (@Sendable () async -> ShardCacheReport)?
    private let registered = OneShot<Void>()
    private let period = Mutex<Duration>(.seconds(2))

    init(
        client: TesseraGRPCClient, state: WorkerState, publicKey: [UInt8], logger: Logger,
        cacheReport: (@Sendable () async -> ShardCacheReport)? = nil
    ) {
        self.cacheReport = cacheReport
        self.scheduler = Tessera_V1_Scheduler.Client(wrapping: client)
        self.state = state
        self.publicKey = publicKey
        self.logger = logger
    }

    /// A client whose reconnects keep the same 2 s cap. The transport's default backoff grows
    /// to two minutes, so after a long outage the dead connection, not the worker, kept
    /// workers away from a returning scheduler for most of a minute.
    static func makeClient(_ address: ListenAddress) throws -> TesseraGRPCClient {
        try ServiceClient.make(
            address,
            config: .defaults {
                $0.backoff = .init(
                    initial: .milliseconds(200), max: .seconds(2), multiplier: 1.6, jitter: 0.2)
            })
    }

    /// Returns once the scheduler accepted the registration. Throws `RegistrationRefused`
    /// when retrying cannot help, and otherwise only on cancellation.
    func registerUntilAccepted(address: String) async throws {
        var backoff = Self.retryBackoff
        var failures = FailureStreak("registration")
        while true {
            try Task.checkCancellation()
            do {
                try await register(address: address)
                failures.ended(logger: logger)
                return
            } catch let error as RPCError
                where [.alreadyExists, .invalidArgument, .permissionDenied].contains(error.code)
            {
                logger.error(
                    "the scheduler refused this worker", metadata: ["reason": "\(error.message)"])
                throw RegistrationRefused(reason: error.message)
            } catch {
                try Task.checkCancellation()
                failures.failed(error, logger: logger)
                try await Task.sleep(for: backoff.next())
            }
        }
    }

    private func register(address: String) async throws {
        let request = Tessera_V1_RegisterWorkerRequest.with {
            $0.address = address
            $0.capabilities = Tessera_V1_WorkerCapabilities(state.capabilities)
            $0.workerID = state.workerID
            $0.readyShards = state.wireReadyShards  // shards loaded before a scheduler restart
            $0.publicKey = Data(publicKey)
        }
        let response = try await scheduler.registerWorker(request, options: Self.callTimeout)
        period.withLock { $0 = .milliseconds(Int(max(response.heartbeatIntervalMs, 100))) }
        registered.set(())
        logger.info(
            "registered with scheduler",
            metadata: [
                "worker": "\(state.workerID)", "address": "\(address)",
                "ready_shards": "\(request.readyShards.count)",
            ])
    }

    /// Heartbeats until graceful shutdown. While the scheduler is unreachable it retries
    /// sooner than the heartbeat period (capped backoff), so a returning scheduler hears from
    /// the worker within seconds; NOT_FOUND means it forgot us, and we register again.
    func heartbeatLoop(address: String) async throws {
        guard (try? await registered.value) != nil else { return }
        var failures = FailureStreak("heartbeat")
        var backoff = Self.retryBackoff
        var delay = period.withLock { $0 }
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            try? await Task.sleep(for: delay)
            let period = period.withLock { $0 }
            delay = period
            let cache = await cacheReport?()
            do {
                _ = try await scheduler.heartbeat(
                    .with {
                        $0.workerID = state.workerID
                        $0.load = Tessera_V1_WorkerLoad(state.load(draining: true))
                        $0.readyShards = state.wireReadyShards
                        if let cache { $0.cache = Tessera_V1_ShardCacheReport(cache) }
                    }, options: Self.callTimeout)
                failures.ended(logger: logger)
                backoff.reset()
            } catch let error as RPCError where error.code == .notFound {
                failures.ended(logger: logger)
                backoff.reset()
                logger.notice("the scheduler does not know this worker; registering again")
                do {
                    try await registerUntilAccepted(address: address)
                } catch let refused as RegistrationRefused {
                    throw refused
                } catch {
                    return  // cancelled: shutting down
                }
            } catch {
                if Task.isShuttingDownGracefully || Task.isCancelled { return }
                failures.failed(error, logger: logger)
                delay = min(period, backoff.next())
            }
        }
    }
}

/// The scheduler refused the registration for good (another live worker holds this id, the id
/// is pinned to another key, or the request is malformed): the worker stops with its reason.
struct RegistrationRefused: Error, CustomStringConvertible {
    let reason: String

    var description: String { "the scheduler refused this worker: \(reason)" }
}

/// Runs the heartbeat loop inside the service group once registration succeeded.
struct HeartbeatService: Service {
    let link: SchedulerLink
    let address: OneShot<String>

    func run() async throws {
        // A worker stopped before it ever registered has no address to wait for.
        try await cancelWhenGracefulShutdown {
            guard let address = try? await address.value else { return }
            try await link.heartbeatLoop(address: address)
        }
    }
}
