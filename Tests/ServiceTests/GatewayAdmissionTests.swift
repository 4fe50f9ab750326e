import Foundation
import GRPCCore
import Hummingbird
import ServiceKit
import ServiceLifecycle
import Synchronization
import TesseraProto
import Testing

@testable import Gateway
@testable import Scheduler

/// The gateway's admission queue in front of a real scheduler (over gRPC) whose one worker
/// has a few session slots: requests beyond them wait first come first served, a failover
/// goes first, a full queue refuses at once, no wait outlasts its limit or its client's
/// deadline, and a request whose client left leaves the queue.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct GatewayAdmissionTests {
    /// The gateway's side of leasing (router, renewal, background releases) against a
    /// prepared scheduler with one single-stage pipeline on `w1` of `slots` slots.
    struct Cluster {
        let scheduler: PreparedScheduler
        let router: PipelineRouter
        let group: ServiceGroup
        let running: Task<Void, any Error>

        static func start(slots: Int, limits: AdmissionQueue.Limits) async throws -> Cluster {
            let port = try freePort()
            let scheduler = try await PreparedScheduler.start(
                port: port, leaseTTL: .seconds(30), workers: ["w1"], sessionSlots: slots)
            let client = try ServiceClient.make(ListenAddress(host: "127.0.0.1", port: port))
            let api = Tessera_V1_Scheduler.Client(wrapping: client)
            let leases = LeaseRenewal(scheduler: api, logger: quietLogger)
            let background = BackgroundWork()
            let router = PipelineRouter(
                scheduler: api,
                schedulerWatch: SchedulerWatch(
                    scheduler: client, health: HealthStatusStore(), healthNames: [],
                    logger: quietLogger),
                background: background, leases: leases, logger: quietLogger,
                waitLimit: .seconds(30),
                admission: AdmissionQueue(
                    limits: limits,
                    poll: Backoff(initial: .milliseconds(100), maximum: .milliseconds(200))))
            let group = ServiceGroup(
                services: [ClientService(client: client), background, leases],
                logger: quietLogger)
            return Cluster(
                scheduler: scheduler, router: router, group: group,
                running: Task { try await group.run() })
        }

        var queue: AdmissionQueue { router.admission }

        func acquire(failover: Bool = false, deadline: RequestDeadline? = nil) async throws
            -> PipelineLease
        {
            try await router.acquire(
                model: "m", avoiding: [], expectedTokens: 10, failFast: !failover,
                deadline: deadline)
        }

        /// Why an acquisition is refused (nil: it was granted, or failed otherwise).
        func refusal(deadline: RequestDeadline? = nil) async -> GatewayError? {
            do {
                router.release(try await acquire(deadline: deadline))
                return nil
            } catch {
                return error as? GatewayError
            }
        }

        /// Starts an acquisition and returns once it waits in the queue (as the `position`th).
        func queued(
            _ name: String, failover: Bool = false, position: Int, log: AdmissionLog
        ) async throws -> Task<PipelineLease, any Error> {
            let task = Task {
                let lease = try await acquire(failover: failover)
                log.names.withLock { $0.append(name) }
                return lease
            }
            let waiting = try await eventually(timeout: .seconds(30)) { queue.count == position }
            try #require(waiting, "\(name) never queued")
            return task
        }

        func stop() async {
            await group.triggerGracefulShutdown()
            _ = try? await running.value
            await scheduler.service.shutdown()
        }
    }

    @Test func waitingRequestsAreAdmittedFirstComeFirstServedAndAFailoverFirst() async throws {
        let cluster = try await Cluster.start(slots: 1, limits: .init(maxQueued: 8))
        let held = try await cluster.acquire()
        let log = AdmissionLog()
        let first = try await cluster.queued("first", position: 1, log: log)
        let second = try await cluster.queued("second", position: 2, log: log)
        // A failover of a running generation goes ahead of every new request.
        let failover = try await cluster.queued("failover", failover: true, position: 3, log: log)
        // A newcomer does not ask past those waiting: it joins the back.
        let third = try await cluster.queued("third", position: 4, log: log)
        #expect(log.names.withLock { $0 }.isEmpty)

        // Each release admits the head, and only the head.
        cluster.router.release(held)
        var previous = try await failover.value
        for task in [first, second, third] {
            let waiting = cluster.queue.count
            #expect(log.names.withLock { $0.count } + waiting == 4)
            cluster.router.release(previous)
            previous = try await task.value
            #expect(cluster.queue.count == waiting - 1)
        }
        #expect(log.names.withLock { $0 } == ["failover", "first", "second", "third"])
        #expect(cluster.queue.count == 0)
        cluster.router.release(previous)
        await cluster.stop()
    }

    @Test func aFullQueueRefusesAtOnceWithARetryHint() async throws {
        let cluster = try await Cluster.start(slots: 1, limits: .init(maxQueued: 1))
        let held = try await cluster.acquire()
        let log = AdmissionLog()
        let waiting = try await cluster.queued("waiting", position: 1, log: log)
        let started = ContinuousClock.now
        let error = try #require(await cluster.refusal())
        #expect(ContinuousClock.now - started < .seconds(5))  // refused, not queued
        #expect(error.kind == .queueFull)
        #expect(error.message.contains("--max-queued"))
        #expect((error.retryAfter ?? .zero) >= .seconds(1))

        // As the HTTP API answers it: 429, Retry-After, OpenAI's error body.
        let response = OpenAIRoutes.errorResponse(error)
        #expect(response.status == .tooManyRequests)
        #expect(Int(response.headers[.retryAfter] ?? "") ?? 0 >= 1)
        let body = try JSONSerialization.jsonObject(with: OpenAIJSON.encode(OpenAIErrorBody(error)))
        let fields = try #require((body as? [String: Any])?["error"] as? [String: Any])
        #expect(fields["type"] as? String == "rate_limit_exceeded")
        #expect(fields["code"] as? String == "queue_full")
        #expect((fields["message"] as? String)?.contains("--max-queued") == true)
        // As gRPC answers it: RESOURCE_EXHAUSTED with gRPC's pushback key.
        #expect(error.rpcErrorCode == .resourceExhausted)
        let pushback = error.rpcErrorMetadata[stringValues: MetadataKeys.retryPushback]
        #expect(Int(pushback.first { _ in true } ?? "") ?? 0 >= 1000)

        cluster.router.release(held)
        cluster.router.release(try await waiting.value)
        await cluster.stop()
    }

    @Test func noWaitOutlastsTheQueueLimitOrTheClientsDeadline() async throws {
        let cluster = try await Cluster.start(
            slots: 1, limits: .init(maxQueued: 4, maxWait: .milliseconds(400)))
        let held = try await cluster.acquire()

        var started = ContinuousClock.now
        let timedOut = await cluster.refusal()
        #expect(timedOut?.kind == .queueTimeout)
        #expect(timedOut?.message.contains("--max-queue-wait-s") == true)
        #expect(timedOut?.retryAfter != nil)
        #expect(ContinuousClock.now - started >= .milliseconds(400))
        #expect(OpenAIRoutes.errorResponse(try #require(timedOut)).status == .tooManyRequests)
        #expect(cluster.queue.count == 0)

        // The gRPC client's deadline comes first: the wait ends just before it, saying so.
        let long = try await Cluster.start(slots: 1, limits: .init(maxQueued: 4))
        let heldLong = try await long.acquire()
        started = ContinuousClock.now
        let expired = await long.refusal(deadline: RequestDeadline(timeout: .milliseconds(500)))
        #expect(expired?.kind == .deadlineExceeded)
        #expect(expired?.message.contains("grpc-timeout 0.5 s") == true)
        #expect(expired?.rpcErrorCode == .deadlineExceeded)
        #expect(ContinuousClock.now - started < .seconds(5))
        #expect(long.queue.count == 0)

        #expect(RequestDeadline.parse("250m") == .milliseconds(250))
        #expect(RequestDeadline.parse("3S") == .seconds(3))
        #expect(RequestDeadline.parse("2H") == .seconds(7200))
        #expect(RequestDeadline.parse("123456789m") == nil)  // more than eight digits
        #expect(RequestDeadline.parse("5x") == nil)

        cluster.router.release(held)
        long.router.release(heldLong)
        await cluster.stop()
        await long.stop()
    }

    @Test func aRequestWhoseClientLeftLeavesTheQueue() async throws {
        let cluster = try await Cluster.start(slots: 1, limits: .init(maxQueued: 4))
        let held = try await cluster.acquire()
        let log = AdmissionLog()
        let gone = try await cluster.queued("gone", position: 1, log: log)
        let next = try await cluster.queued("next", position: 2, log: log)
        gone.cancel()
        #expect(try await eventually { cluster.queue.count == 1 })
        await #expect(throws: CancellationError.self) { _ = try await gone.value }

        cluster.router.release(held)
        let lease = try await next.value
        #expect(log.names.withLock { $0 } == ["next"])
        #expect(await cluster.scheduler.totalLeases == 1)
        cluster.router.release(lease)
        #expect(try await eventually { await cluster.scheduler.totalLeases == 0 })
        await cluster.stop()
    }
}

/// The order in which queued acquisitions were admitted.
final class AdmissionLog: Sendable {
    let names = Mutex<[String]>([])
}
