import GRPCCore
import Logging
import ServiceKit
import ServiceLifecycle
import Synchronization
import TesseraProto

/// Keeps the leases of running generations alive at the scheduler: every third of the
/// shortest lease TTL it renews them all in one `RenewLeases` call. A gateway that crashes
/// stops renewing, and the scheduler releases its leases once their TTL runs out, so
/// pipelines do not stay "busy" (or draining) for requests that no longer exist.
///
/// A scheduler that restarted (or expired a lease while it could not be reached) answers
/// that it does not know some leases, yet their generations still run on the workers. Each
/// such lease is asked for again (`AcquirePipeline` avoiding every worker outside its
/// pipeline, so the scheduler counts the load where it is) and the new lease id is renewed
/// from then on; the generation keeps the id it was granted first, and releasing that id
/// releases the lease that replaced it. Until a pipeline made of those workers is ready
/// again, the lease is asked for every `retryInterval`.
final class LeaseRenewal: Service, Sendable {
    /// What a lease was granted for: enough to ask for it again.
    struct Grant: Sendable {
        var model: String
        var route: PipelineRoute
        var expectedTokens: Int
    }

    private struct Held {
        /// The scheduler's id for it now: the one first granted, until it had to be replaced.
        var current: String
        var ttl: Duration
        var grant: Grant?
        /// The scheduler said it does not know `current`: to be acquired again.
        var lost = false
    }

    private let scheduler: Tessera_V1_Scheduler.Client<TesseraClientTransport>
    private let logger: Logger
    /// How soon to try again after a failed renewal, or while a lost lease is not back.
    private let retryInterval: Duration
    /// By the lease id the generation holds (the first one granted).
    private let held = Mutex<[String: Held]>([:])
    private let changed = WakeSignal()

    init(
        scheduler: Tessera_V1_Scheduler.Client<TesseraClientTransport>, logger: Logger,
        retryInterval: Duration = .seconds(1)
    ) {
        self.scheduler = scheduler
        self.logger = logger
        self.retryInterval = retryInterval
    }

    func hold(_ leaseID: String, ttl: Duration, grant: Grant? = nil) {
        guard !leaseID.isEmpty, ttl > .zero else { return }
        let added = held.withLock {
            $0.updateValue(Held(current: leaseID, ttl: ttl, grant: grant), forKey: leaseID) == nil
        }
        if added { GatewayMetrics.heldLeases.increment() }
        changed.signal()
    }

    /// Stops renewing the lease granted as `leaseID`; returns the scheduler's id for it now
    /// (the one to release), or nil if it was not held.
    @discardableResult
    func drop(_ leaseID: String) -> String? {
        let removed = held.withLock { $0.removeValue(forKey: leaseID) }
        if removed != nil { GatewayMetrics.heldLeases.decrement() }
        return removed?.current
    }

    var heldLeases: Int { held.withLock { $0.count } }

    /// The scheduler's ids of the leases held now (tests).
    var currentLeaseIDs: [String] { held.withLock { $0.values.map(\.current).sorted() } }

    func run() async throws {
        await cancelWhenGracefulShutdown {
            var last = ContinuousClock.now
            var failed = false
            while !Task.isCancelled {
                let (ttl, lost) = self.held.withLock {
                    ($0.values.map(\.ttl).min(), $0.values.contains(where: \.lost))
                }
                guard let ttl else {
                    // Nothing held: wait for a lease; its first renewal is due a period later.
                    await self.changed.wait(upTo: .seconds(60))
                    last = .now
                    continue
                }
                // Well inside the TTL; sooner while the scheduler owes us an answer.
                let period = failed || lost ? min(ttl / 3, self.retryInterval) : ttl / 3
                let due = last + period
                if ContinuousClock.now < due {
                    // A new lease (perhaps with a shorter TTL) wakes this to work out `due` again.
                    await self.changed.wait(upTo: due - .now)
                    continue
                }
                last = .now
                failed = !(await self.renew())
            }
        }
    }

    /// One round: renews every lease the scheduler knows, then asks again for those it does
    /// not. Returns false when the scheduler could not be reached.
    private func renew() async -> Bool {
        let current = held.withLock { $0.values.filter { !$0.lost }.map(\.current) }
        if !current.isEmpty {
            do {
                let response = try await scheduler.renewLeases(
                    .with { $0.leaseIds = current }, options: .timeout(.seconds(5)))
                if !response.unknownLeaseIds.isEmpty {
                    let unknown = Set(response.unknownLeaseIds)
                    let lost = held.withLock { held in
                        let lost = held.filter { unknown.contains($0.value.current) }.map(\.key)
                        for key in lost { held[key]?.lost = true }
                        return lost.count
                    }
                    // Expired or lost with a scheduler restart: the generation keeps its session
                    // (the workers do not need the lease), and the scheduler must count it again.
                    logger.notice(
                        "the scheduler no longer knows some leases; asking for them again",
                        metadata: ["leases": "\(lost)"])
                }
            } catch {
                logger.debug("lease renewal failed", metadata: ["error": "\(error)"])
                return false
            }
        }
        return await acquireLost()
    }

    /// Asks for each lost lease again, on a pipeline of the workers its generation runs on.
    /// A lease whose generation ended meanwhile is released at once. Returns false when the
    /// scheduler could not be reached.
    private func acquireLost() async -> Bool {
        let lost = held.withLock { held in
            held.compactMap { key, value in
                value.lost ? (key: key, grant: value.grant) : nil
            }.sorted { $0.key < $1.key }
        }
        guard !lost.isEmpty else { return true }
        let workers: [String]
        do {
            workers = try await scheduler.listWorkers(.init(), options: .timeout(.seconds(5)))
                .workers.map(\.workerID)
        } catch {
            logger.debug("listing workers failed", metadata: ["error": "\(error)"])
            return false
        }
        var regained = 0
        for (key, grant) in lost {
            guard let grant else {
                // Nothing to ask for it with: stop renewing it (the generation goes on).
                drop(key)
                continue
            }
            let own = Set(grant.route.stages.map(\.workerID))
            let response: Tessera_V1_AcquirePipelineResponse
            do {
                response = try await scheduler.acquirePipeline(
                    .with {
                        $0.model = grant.model
                        $0.avoidWorkerIds = workers.filter { !own.contains($0) }.sorted()
                        $0.expectedTokens = UInt32(clamping: grant.expectedTokens)
                        // Its session runs already: counted, never refused for lack of slots.
                        $0.alreadyRunning = true
                    }, options: .timeout(.seconds(5)))
            } catch {
                // No pipeline of these workers is ready yet (the scheduler is still placing
                // shards after its restart): the next round asks again.
                logger.debug(
                    "asking for a lost lease again failed",
                    metadata: ["lease": "\(key)", "error": "\(error)"])
                continue
            }
            let granted = response.pipeline.stages.map(\.workerID)
            let ttl = Duration.milliseconds(Int(response.leaseTtlMs))
            let replaced =
                granted.allSatisfy(own.contains) && ttl > .zero
                && held.withLock { held in
                    guard held[key] != nil else { return false }
                    held[key]!.current = response.leaseID
                    held[key]!.ttl = ttl
                    held[key]!.lost = false
                    return true
                }
            if replaced {
                regained += 1
            } else {
                // The generation ended meanwhile (or a worker joined between the two calls
                // and the pipeline is not its own): give the lease back.
                _ = try? await scheduler.releasePipeline(
                    .with { $0.leaseID = response.leaseID }, options: .timeout(.seconds(5)))
            }
        }
        if regained > 0 {
            logger.notice(
                "leases granted again after the scheduler lost them",
                metadata: [
                    "leases": "\(regained)",
                    "still_lost": "\(held.withLock { $0.values.filter(\.lost).count })",
                ])
        }
        return true
    }
}
