import Foundation
import GRPCCore
import GRPCInProcessTransport
import Integrity
import Logging
import ServiceKit
import TesseraProto
import Testing

@testable import Scheduler

/// Untrusted workers: an id is pinned to the key it first registered with, only an
/// operator's RemoveWorker unpins it, and a verifier that cannot be reached holds nothing up.
@Suite struct SchedulerTrustTests {
    @Test func anIDIsPinnedToItsFirstKeyUntilTheWorkerIsRemoved() async throws {
        let first = SigningIdentity().publicKey
        let other = SigningIdentity().publicKey
        try await withScheduler { api in
            let registered = try await api.registerWorker(
                registration("edge-p", at: "127.0.0.1:9001", key: first))
            #expect(registered.workerID == "edge-p")
            // The same key again (a restart, or a heartbeat that got NOT_FOUND) is the worker.
            _ = try await api.registerWorker(
                registration("edge-p", at: "127.0.0.1:9001", key: first))

            let refused = await rpcError {
                _ = try await api.registerWorker(
                    registration("edge-p", at: "127.0.0.1:9001", key: other))
            }
            #expect(refused?.code == .permissionDenied)
            #expect(
                refused?.message
                    == "worker id edge-p is pinned to key \(hexPrefix(first)), the key it first "
                    + "registered with, and this worker signs with another key; if the worker "
                    + "that had the id is gone for good, remove it with "
                    + "`tessera worker remove edge-p`")
            #expect(try await api.listWorkers(.init()).workers.map(\.workerID) == ["edge-p"])

            // The operator removes it: it is gone, and the other key may take the id.
            _ = try await api.removeWorker(.with { $0.workerID = "edge-p" })
            #expect(try await api.listWorkers(.init()).workers.isEmpty)
            let taken = try await api.registerWorker(
                registration("edge-p", at: "127.0.0.1:9001", key: other))
            #expect(taken.workerID == "edge-p")
            // Now the id is pinned to that key.
            let old = await rpcError {
                _ = try await api.registerWorker(
                    registration("edge-p", at: "127.0.0.1:9001", key: first))
            }
            #expect(old?.code == .permissionDenied)
        }
    }

    @Test func aDeadWorkersIDStaysPinned() throws {
        // On the registry itself, with explicit instants: a loaded machine cannot blur them.
        let registry = WorkerRegistry(expiry: .milliseconds(300))
        let start = ContinuousClock.now
        let first = ListenAddress(host: "127.0.0.1", port: 9001)
        let second = ListenAddress(host: "127.0.0.1", port: 9002)
        let capabilities = WorkerCapabilities(memoryBytes: 1 << 30, cpuCount: 1)
        let key = SigningIdentity().publicKey
        let other = SigningIdentity().publicKey
        _ = try registry.register(
            address: first, capabilities: capabilities, requestedID: "edge-q", publicKey: key,
            readyShards: [], now: start)
        #expect(registry.expire(now: start + .seconds(1)) == ["edge-q"])
        #expect(throws: SchedulerError.keyMismatch(id: "edge-q", pinnedKey: key)) {
            try registry.register(
                address: second, capabilities: capabilities, requestedID: "edge-q",
                publicKey: other, readyShards: [], now: start + .seconds(1))
        }
        // Its own key may move it to another address once it expired.
        let moved = try registry.register(
            address: second, capabilities: capabilities, requestedID: "edge-q", publicKey: key,
            readyShards: [], now: start + .seconds(1))
        #expect(moved == "edge-q")
        // A registration without an id from that address does not inherit an id pinned to
        // another key: it gets a new one (and replaces the worker at its address).
        let fresh = try registry.register(
            address: second, capabilities: capabilities, requestedID: "", publicKey: other,
            readyShards: [], now: start + .seconds(1))
        #expect(fresh != "edge-q")
        #expect(registry.workers().map(\.id) == [fresh])
        // Removing the pinned id, though not registered, frees it.
        #expect(registry.forget("edge-q"))
        #expect(!registry.forget("edge-q"))
        _ = try registry.register(
            address: first, capabilities: capabilities, requestedID: "edge-q", publicKey: other,
            readyShards: [], now: start + .seconds(1))
    }

    @Test func aKeyThatIsNot32BytesIsInvalid() async throws {
        try await withScheduler { api in
            for length in [0, 31, 33, 64] {
                let code = await rpcCode {
                    _ = try await api.registerWorker(
                        registration(
                            "edge-k", at: "127.0.0.1:9001",
                            key: [UInt8](repeating: 7, count: length)))
                }
                #expect(code == .invalidArgument, "a \(length)-byte key")
            }
            let workers = try await api.listWorkers(.init()).workers
            #expect(workers.isEmpty)
        }
    }

    @Test func removingAnUnknownWorkerIsNotFound() async throws {
        try await withScheduler { api in
            let unknown = await rpcCode {
                _ = try await api.removeWorker(.with { $0.workerID = "nobody" })
            }
            #expect(unknown == .notFound)
            let empty = await rpcCode { _ = try await api.removeWorker(.init()) }
            #expect(empty == .invalidArgument)
        }
    }

    @Test func aVerifierThatIsDownHoldsNothingUp() async throws {
        let recorder = LogRecorder()
        let down = ListenAddress(host: "127.0.0.1", port: try freePort())
        let failure = "cannot read reputations from the verifier; keeping the last known ones"
        try await withScheduler(verifier: down, logger: recorder.logger) { api in
            let key = SigningIdentity().publicKey
            _ = try await api.registerWorker(
                registration("edge-v", at: "127.0.0.1:9001", key: key))
            #expect(try await eventually(timeout: .seconds(60)) { recorder.count(of: failure) > 0 })
            try await Task.sleep(for: .milliseconds(500))  // more polls, failing the same way
            // Registering again (the worker sends no heartbeats here, and a loaded machine can
            // take long enough for it to expire) still works while the verifier is down.
            _ = try await api.registerWorker(
                registration("edge-v", at: "127.0.0.1:9001", key: key))
            let workers = try await api.listWorkers(.init()).workers
            #expect(workers.map(\.workerID) == ["edge-v"])
            #expect(workers.first?.reputation == 1)
            #expect(workers.first?.quarantined == false)
        }
        #expect(recorder.count(of: failure) == 1)  // once, not once per poll
    }
}

/// Runs a scheduler on an in-process transport (with no cache-manager it never plans) and
/// calls `body` with its API.
private func withScheduler<Result: Sendable>(
    verifier: ListenAddress? = nil, logger: Logger = quietLogger,
    _ body: (Tessera_V1_Scheduler.Client<InProcessTransport.Client>) async throws -> Result
) async throws -> Result {
    var configuration = SchedulerConfiguration()
    configuration.cacheManagerAddress = ListenAddress(host: "127.0.0.1", port: 1)
    configuration.verifierAddress = verifier
    configuration.reputationPollInterval = .milliseconds(100)
    return try await buildScheduler(configuration, logger: logger).withInProcessServer {
        client async throws in
        try await body(Tessera_V1_Scheduler.Client(wrapping: client))
    }
}

/// A registration as a worker sends it, from `address` (nothing listens there).
private func registration(_ id: String, at address: String, key: [UInt8])
    -> Tessera_V1_RegisterWorkerRequest
{
    .with {
        $0.workerID = id
        $0.address = address
        $0.capabilities.memoryBytes = 1 << 30
        $0.capabilities.cpuCount = 1
        $0.publicKey = Data(key)
    }
}

private func hexPrefix(_ key: [UInt8]) -> String {
    key.prefix(8).map { String(format: "%02x", $0) }.joined()
}

private func rpcError(_ body: () async throws -> Void) async -> RPCError? {
    do {
        try await body()
        return nil
    } catch {
        return error as? RPCError
    }
}
