import Foundation
import Logging
import ServiceLifecycle
import Synchronization
import TesseraProto

/// Replays receipts and stores their verdicts: for the checker (one at a time) and for
/// AuditReceipt (at once). Concurrent requests for one receipt share one replay, which runs
/// in a task of its own: an RPC client that gives up does not waste it, while the checker,
/// stopping at shutdown, cancels its replay (its receipt stays pending and selected, and is
/// replayed after a restart). As a service the auditor cancels, at shutdown, the replays
/// that nobody waits for any more.
final class Auditor: Service, Sendable {
    private let store: VerifierStore
    private let replayer: any ReceiptReplaying
    private let policy: ReputationPolicy
    private let logger: Logger
    private let running = Mutex<[String: Task<ReceiptStatus, any Error>]>([:])

    init(
        store: VerifierStore, replayer: any ReceiptReplaying, policy: ReputationPolicy,
        logger: Logger
    ) {
        self.store = store
        self.replayer = replayer
        self.policy = policy
        self.logger = logger
    }

    func run() async throws {
        try? await gracefulShutdown()
        let tasks = running.withLock { Array($0.values) }
        for task in tasks { task.cancel() }
    }

    /// The receipt's verdict: its stored one if it has one (a verdict is final, and replaying
    /// again would count the same work twice), else a fresh replay's. Throws
    /// `receiptNotFound`, or `replayFailed` when the verifier could not replay it now (it
    /// stays pending, selected, and the checker tries it again later). With
    /// `cancelsWithCaller`, cancelling the caller cancels the replay.
    func audit(_ id: String, cancelsWithCaller: Bool = false) async throws -> ReceiptStatus {
        let task = running.withLock { running in
            if let task = running[id] { return task }
            let task = Task {
                defer { _ = self.running.withLock { $0.removeValue(forKey: id) } }
                return try await self.replayAndRecord(id)
            }
            running[id] = task
            return task
        }
        guard cancelsWithCaller else { return try await task.value }
        return try await withTaskCancellationHandler {
            try await task.value
        } onCancel: {
            task.cancel()
        }
    }

    private func replayAndRecord(_ id: String) async throws -> ReceiptStatus {
        guard let stored = try await store.storedRecord(id) else {
            throw VerifierError.receiptNotFound(rpc: "AuditReceipt", id)
        }
        guard stored.state == .pending else {
            guard let status = try await store.status(id) else {
                throw VerifierError.receiptNotFound(rpc: "AuditReceipt", id)
            }
            return status
        }
        try await store.markWanted(id)
        let record = stored.record.domain
        let outcome: ReplayOutcome
        do {
            let sampling = try stored.record.sampling.parameters(
                defaultMaxTokens: max(record.outputTokens.count, 1))
            outcome = try await replayer.replay(record, sampling: sampling)
        } catch {
            if !Task.isCancelled {
                VerifierMetrics.replayError()
                try? await store.deferReplay(id, at: VerifierStore.now())
                logger.warning(
                    "replay failed; the receipt stays pending",
                    metadata: ["receipt": "\(id)", "error": "\(error)"])
            }
            throw VerifierError.replayFailed(receipt: id, reason: "\(error)")
        }
        VerifierMetrics.replay(seconds: outcome.computeSeconds)
        guard
            let recording = try await store.recordVerdict(
                id, outcome: outcome, policy: policy, at: VerifierStore.now())
        else {
            throw VerifierError.receiptNotFound(rpc: "AuditReceipt", id)
        }
        switch recording {
        case .alreadyDecided(let status):
            return status
        case .recorded(let status):
            report(status, outcome: outcome)
            if let counts = try? await store.pendingCounts() {
                VerifierMetrics.pending(selected: counts.selected, unselected: counts.unselected)
            }
            return status
        }
    }

    private func report(_ status: ReceiptStatus, outcome: ReplayOutcome) {
        for check in outcome.stages { VerifierMetrics.stageCheck(passed: check.passed) }
        VerifierMetrics.verdict(status.state)
        var metadata: Logger.Metadata = [
            "receipt": "\(status.receipt.receiptID)", "state": "\(status.state.rawValue)",
            "stages": "\(outcome.stages.count)", "canary": "\(status.canary)",
            "replay_seconds": "\(String(format: "%.3f", outcome.computeSeconds))", "by": "replay",
        ]
        if status.state == .unverifiable {
            metadata["reason"] = "\(status.reason)"
            logger.warning("receipt unverifiable", metadata: metadata)
            return
        }
        if let fault = status.fault {
            metadata["fault_worker"] = "\(fault.workerID)"
            metadata["fault_layers"] = "\(fault.layers.lowerBound)..<\(fault.layers.upperBound)"
            metadata["reason"] = "\(fault.reason)"
            logger.warning("receipt verdict", metadata: metadata)
        } else {
            logger.info("receipt verdict", metadata: metadata)
        }
    }
}
